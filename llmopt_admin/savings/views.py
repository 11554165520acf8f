"""The savings dashboard (staff only): headline, charts, breakdown, CSV exports, what-if."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_GET

from llmopt_admin.accounts.decorators import staff_required
from llmopt_admin.savings import selectors
from llmopt_admin.savings.models import LEDGER_COLUMNS
from llmopt_admin.savings.periods import Selection, selection_from_params
from llmopt_admin.savings.what_if import what_if_projection
from optimization.pricing import TOKEN_FIELDS


def _chart_data(selection: Selection) -> dict[str, Any]:
    points = selectors.savings_timeseries(filters=selection.filters)
    hourly = len(points) < 2 or (points[1][0] - points[0][0]).total_seconds() == 3600
    return {
        "labels": [m.strftime("%m-%d %H:00" if hourly else "%Y-%m-%d") for m, _ in points],
        "cost": [float(f.cost) for _, f in points],
        "baseline": [float(f.baseline_cost) for _, f in points],
        "cacheReadSaved": [float(f.cache_read_saved) for _, f in points],
        "cacheWritePremium": [-float(f.cache_write_premium) for _, f in points],
        "batchDiscount": [float(f.batch_discount) for _, f in points],
        "hitRate": [
            None if f.cache_hit_rate is None else round(f.cache_hit_rate * 100, 2)
            for _, f in points
        ],
    }


def _context(selection: Selection) -> dict[str, Any]:
    query = selection.query()
    breakdown = selectors.savings_breakdown(filters=selection.filters)
    return {
        "selection": selection,
        "filters": selection.filters,
        "query": urlencode(query),
        "last_day": selection.filters.end - timedelta(seconds=1),
        # The table's rows are disjoint and cover the period: their total is the headline.
        "summary": selectors.Figures.total(figures for _, _, figures in breakdown),
        "breakdown": breakdown,
        "chart": _chart_data(selection),
        "choices": selectors.filter_choices(),
        "presets": list(selectors.PRESETS),
        "hit_rate_definition": selectors.HIT_RATE_DEFINITION,
        "batch_share_definition": selectors.BATCH_SHARE_DEFINITION,
        "demo_history": selectors.demo_history_present(),
    }


@require_GET
@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The whole page, or (htmx) only the figures for the newly chosen period and filters."""
    if not selectors.ledger_has_data():
        return render(request, "savings/dashboard.html", {"empty": True})
    selection = selection_from_params(request.GET)
    context = _context(selection)
    # Bad filters: the default period is shown under a message naming them, as a 400.
    status = 400 if selection.errors else 200
    if request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request"):
        return render(request, "savings/_figures.html", context, status=status)
    return render(request, "savings/dashboard.html", context, status=status)


def _bad_request(errors: Mapping[str, str]) -> HttpResponse:
    """400 with a message per field (before any CSV row is sent: a stream cannot turn into
    an error once it has begun)."""
    items = format_html_join("", "<li>{} {}</li>", errors.items())
    return HttpResponseBadRequest(format_html('<ul class="error" role="alert">{}</ul>', items))


# A cell a spreadsheet would run as a formula (OWASP "CSV injection"): =, +, -, @, tab, CR.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def csv_cell(value: Any) -> Any:
    """`value` as safe to open in a spreadsheet: text that would start a formula gets a leading
    single quote; numbers (and text that is only a number, like "-12.50") stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _csv_response(rows: Iterable[list[Any]], filename: str) -> StreamingHttpResponse:
    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())
    response = StreamingHttpResponse(
        (writer.writerow([csv_cell(value) for value in row]) for row in rows),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _span(selection: Selection) -> str:
    f = selection.filters
    return f"{f.start:%Y%m%dT%H}-{f.end:%Y%m%dT%H}"


@require_GET
@staff_required
def breakdown_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The breakdown table as CSV, for the same period and filters as the page."""
    selection = selection_from_params(request.GET)
    if selection.errors:
        return _bad_request(selection.errors)

    def rows() -> Iterator[list[Any]]:
        yield [
            "provider",
            "model",
            "calls",
            "batch_calls",
            *TOKEN_FIELDS,  # input_tokens is the uncached input, as in the raw events
            "spend_usd",
            "baseline_usd",
            "saved_usd",
            "saved_pct",
            "cache_read_saved_usd",
            "cache_write_premium_usd",
            "batch_discount_usd",
            "cache_hit_rate",
            "batch_share",
        ]
        for provider, model, f in selectors.savings_breakdown(filters=selection.filters):
            yield [
                provider,
                model,
                f.events,
                f.batch_events,
                *f.token_counts,
                f.cost,
                f.baseline_cost,
                f.saved,
                "" if f.saved_pct is None else f"{f.saved_pct:.2f}",
                f.cache_read_saved,
                f.cache_write_premium,
                f.batch_discount,
                "" if f.cache_hit_rate is None else f"{f.cache_hit_rate:.4f}",
                "" if f.batch_share is None else f"{f.batch_share:.4f}",
            ]

    return _csv_response(rows(), f"savings-breakdown-{_span(selection)}.csv")


# The raw-events export: every ledger column but the ingest's own bookkeeping.
EVENT_COLUMNS = tuple(
    name for name in LEDGER_COLUMNS if name not in ("cacheable_input_tokens", "received_at")
)


@require_GET
@staff_required
def events_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """Every raw event of the period (and filters), streamed, oldest first."""
    selection = selection_from_params(request.GET)
    if selection.errors:
        return _bad_request(selection.errors)

    def rows() -> Iterator[list[Any]]:
        yield list(EVENT_COLUMNS)
        for event in selectors.ledger_events_for_export(filters=selection.filters):
            row = [getattr(event, name) for name in EVENT_COLUMNS]
            row[1] = event.timestamp.isoformat()
            yield ["" if value is None else value for value in row]

    return _csv_response(rows(), f"usage-events-{_span(selection)}.csv")


@require_GET
@staff_required
def what_if(request: HttpRequest) -> HttpResponse:
    """Projected monthly cost of the last N days of traffic under each optimization."""
    if request.headers.get("Sec-Fetch-Mode") == "navigate" and not request.headers.get(
        "HX-Request"
    ):
        # Opened directly in a browser: the panel lives on the dashboard, with styles and title.
        query = request.GET.urlencode()
        return redirect(f"{reverse('savings:dashboard')}{'?' + query if query else ''}#what-if")
    selection = selection_from_params(request.GET)
    errors = dict(selection.errors)
    days = _whole_days(request.GET.get("days", ""), errors)
    hit_rate = _hit_rate(request.GET.get("hit_rate", ""), errors)
    premium = request.GET.get("premium", "on")
    if premium not in ("on", "off"):
        errors["premium"] = "must be on or off"
    if errors:
        return render(
            request,
            "savings/_what_if_errors.html",
            {"errors": errors, "what_if_fields": WHAT_IF_FIELDS},
            status=400,
        )
    projection = what_if_projection(
        days=days,
        provider=selection.filters.provider,
        model=selection.filters.model,
        hit_rate=hit_rate,
        count_write_premium=premium != "off",
    )
    return render(
        request,
        "savings/_what_if.html",
        {"projection": projection, "errors": {}, "what_if_fields": WHAT_IF_FIELDS},
    )


# The what-if form's fields, each with a message slot next to it on the page.
WHAT_IF_FIELDS = ("days", "hit_rate", "premium")


def _whole_days(raw: str, errors: dict[str, str]) -> int:
    """The what-if's `days`, 1-90 (default 30)."""
    raw = raw.strip()
    if not raw:
        return 30
    # ASCII digits only: str.isdigit() also says yes to "²", which int() refuses.
    if raw.isascii() and raw.isdigit() and len(raw) <= 2 and 1 <= int(raw) <= 90:
        return int(raw)
    errors["days"] = "must be a whole number of days from 1 to 90"
    return 30


def _hit_rate(raw: str, errors: dict[str, str]) -> Decimal | None:
    """The what-if's `hit_rate`, a percentage 0-100 as a 0-1 fraction; None: observed rates."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        rate = Decimal(raw)
    except InvalidOperation:
        rate = Decimal("NaN")
    if not rate.is_finite() or not 0 <= rate <= 100:
        errors["hit_rate"] = "must be a percentage from 0 to 100, or empty for the observed rates"
        return None
    return rate / 100
