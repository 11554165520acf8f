"""API endpoints of the savings app: usage ingest and the dashboard's figures.

Mounted at /api/ with the API's default auth (bearer token or staff session).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from llmopt_admin.openapi import json_body
from llmopt_admin.savings import selectors
from llmopt_admin.savings.periods import Selection, selection_from_params
from llmopt_admin.savings.schemas import (
    IngestOut,
    SavingsBreakdownRowOut,
    SavingsErrorOut,
    SavingsPointOut,
    SavingsQuery,
    SavingsSummaryOut,
    UsageEventsIn,
)
from llmopt_admin.savings.services import MAX_EVENTS_PER_REQUEST, usage_events_ingest
from llmopt_admin.savings.validation import declared_length, json_body_load

router = Router(tags=["savings"])

MAX_BODY_BYTES = 8 * 1024 * 1024


@router.post(
    "/usage/events",
    response={200: IngestOut, 400: SavingsErrorOut, 413: SavingsErrorOut},
    openapi_extra=json_body(UsageEventsIn),
    summary="Record usage events (idempotent by request_id)",
)
def usage_events(request: HttpRequest) -> Status[dict[str, Any]]:
    """Validate and record up to 5,000 events. Each invalid event is reported by index with a
    message per field; events whose request_id is already recorded count as duplicates. Costs
    of models in the price table are recomputed with the price valid at each event's time."""
    declared = request.META.get("CONTENT_LENGTH")
    if (declared_length(declared) or 0) > MAX_BODY_BYTES:
        return Status(413, _too_big(str(declared)))
    # Read the stream ourselves (not request.body) so the limit is ours and applies to
    # chunked bodies that declare no length.
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return Status(413, _too_big(str(len(body))))
    try:
        # Parts too deep or too long to read become per-event errors; the rest still counts.
        payload = json_body_load(body)
    except ValueError as error:  # also UnicodeDecodeError
        return Status(
            400, {"detail": f"body is not valid JSON: {error}", "errors": {"body": str(error)}}
        )
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        return Status(
            400,
            {
                "detail": 'body must be a JSON object {"events": [...]}',
                "errors": {"events": "is required and must be a list"},
            },
        )
    events = payload["events"]
    if len(events) > MAX_EVENTS_PER_REQUEST:
        return Status(
            413,
            {
                "detail": f"{len(events)} events in one request; the limit is "
                f"{MAX_EVENTS_PER_REQUEST}. Split them over several requests.",
                "errors": {"events": f"must hold at most {MAX_EVENTS_PER_REQUEST} events"},
            },
        )
    return Status(200, usage_events_ingest(items=events).as_dict())


def _too_big(size: str) -> dict[str, Any]:
    return {
        "detail": f"body is {size[:40]} bytes; the limit is {MAX_BODY_BYTES} bytes "
        f"(and {MAX_EVENTS_PER_REQUEST} events) per request"
    }


_FILTER_DOC = (
    "Query: period=24h|7d|30d|90d (default 30d) or start/end (YYYY-MM-DD, end inclusive, or "
    "ISO date-times, end exclusive; rounded to whole UTC hours), provider, model."
)


def _selection(query: SavingsQuery) -> Selection:
    return selection_from_params(query.model_dump())


@router.get(
    "/savings/summary",
    response={200: SavingsSummaryOut, 400: SavingsErrorOut},
    summary="Headline figures for a period",
    description=_FILTER_DOC,
)
def savings_summary(request: HttpRequest, query: Query[SavingsQuery]) -> Any:
    selection = _selection(query)
    if selection.errors:
        return Status(400, {"detail": "invalid period or range", "errors": selection.errors})
    filters = selection.filters
    figures = selectors.savings_summary(filters=filters)
    return Status(
        200,
        {
            **figures.as_dict(),
            "start": filters.start,
            "end": filters.end,
            "period": selection.period,
            "provider": filters.provider,
            "model": filters.model,
            "definitions": {
                "cache_hit_rate": selectors.HIT_RATE_DEFINITION,
                "batch_share": selectors.BATCH_SHARE_DEFINITION,
            },
        },
    )


@router.get(
    "/savings/breakdown",
    response={200: list[SavingsBreakdownRowOut], 400: SavingsErrorOut},
    summary="Figures per provider and model",
    description=_FILTER_DOC,
)
def savings_breakdown(request: HttpRequest, query: Query[SavingsQuery]) -> Any:
    selection = _selection(query)
    if selection.errors:
        return Status(400, {"detail": "invalid period or range", "errors": selection.errors})
    return Status(
        200,
        [
            {"provider": provider, "model": model, **figures.as_dict()}
            for provider, model, figures in selectors.savings_breakdown(filters=selection.filters)
        ],
    )


@router.get(
    "/savings/timeseries",
    response={200: list[SavingsPointOut], 400: SavingsErrorOut},
    summary="Spend, baseline, savings by mechanism and hit rate over time",
    description=_FILTER_DOC + " Hourly points up to 2 days, daily beyond.",
)
def savings_timeseries(request: HttpRequest, query: Query[SavingsQuery]) -> Any:
    selection = _selection(query)
    if selection.errors:
        return Status(400, {"detail": "invalid period or range", "errors": selection.errors})
    return Status(
        200,
        [
            {"start": moment, **figures.as_dict()}
            for moment, figures in selectors.savings_timeseries(filters=selection.filters)
        ],
    )
