"""The dashboard page, its htmx partials, CSV exports, the summary API and the what-if panel."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from llmopt_admin.savings.models import LedgerEvent
from llmopt_admin.savings.selectors import Filters, ledger_totals
from llmopt_admin.savings.services import usage_events_record
from llmopt_admin.savings.what_if import what_if_projection
from optimization.telemetry import UsageEvent

pytestmark = pytest.mark.django_db
NOW = datetime.now(UTC)


def record(*specs: tuple[str, str, str, int, dict[str, int]]) -> None:
    """(request_id, model, mode, hours ago, tokens)"""
    usage_events_record(
        events=[
            UsageEvent(
                request_id=rid,
                timestamp=NOW - timedelta(hours=ago),
                provider="openAI" if model.startswith("gpt") else "anthropic",
                model=model,
                mode=mode,  # type: ignore[arg-type]
                **tokens,
            )
            for rid, model, mode, ago, tokens in specs
        ]
    )


@pytest.fixture
def ledger() -> None:
    record(
        (
            "a",
            "claude-sonnet-4-5",
            "cached",
            2,
            {"input_tokens": 1000, "cache_read_tokens": 6000, "output_tokens": 500},
        ),
        (
            "b",
            "claude-sonnet-4-5",
            "batch+cache",
            3,
            {"input_tokens": 200, "cache_write_5m_tokens": 6000, "output_tokens": 100},
        ),
        ("c", "gpt-4.1", "batch", 30, {"input_tokens": 1_000_000}),
        ("d", "gpt-4.1", "standard", 24 * 20, {"input_tokens": 1_000_000}),
    )


SUMMARY = "/api/savings/summary"


def test_the_summary_api_returns_the_ledger_figures_for_the_period(
    staff_client: Client, ledger: None
) -> None:
    day = staff_client.get(SUMMARY, {"period": "24h"}).json()
    # a: $0.0123 of $0.0285; b: (600 + 22,500 + 1,500)/1e6 halved by the batch = 0.0123 of 0.0201
    assert day["events"] == 2
    assert Decimal(day["cost"]) == Decimal("0.0123") + Decimal("0.0123")
    assert Decimal(day["baseline_cost"]) == Decimal("0.0285") + Decimal("0.0201")
    assert Decimal(day["saved"]) == Decimal(day["baseline_cost"]) - Decimal(day["cost"])
    assert Decimal(day["cache_write_premium"]) == Decimal("0.0045")  # 6,000 x ($3.75 - $3)
    assert day["cache_hit_rate"] == pytest.approx(6000 / 12000)
    assert day["batch_share"] == 0.5
    assert (
        "explicit cache breakpoints (Anthropic), cache reads + writes"
        in (day["definitions"]["cache_hit_rate"])
    )

    month = staff_client.get(SUMMARY, {"period": "30d", "provider": "openAI"}).json()
    assert (month["events"], Decimal(month["cost"]), Decimal(month["baseline_cost"])) == (
        2,
        Decimal(3),
        Decimal(4),
    )
    assert month["batch_share"] == 0.5
    start = (NOW - timedelta(days=25)).date().isoformat()
    end = (NOW - timedelta(days=2)).date().isoformat()
    custom = staff_client.get(SUMMARY, {"start": start, "end": end}).json()
    assert (custom["period"], custom["events"], custom["model"]) == ("custom", 1, None)


def test_the_hit_rate_counts_an_automatic_caching_providers_misses_as_cacheable_input(
    staff_client: Client,
) -> None:
    record(
        # OpenAI caches automatically: a miss is plain input, not a cache write.
        ("hit", "gpt-4.1", "cached", 1, {"input_tokens": 500, "cache_read_tokens": 3_000}),
        ("miss", "gpt-4.1", "cached", 2, {"input_tokens": 3_500}),
        # Anthropic: only input that went through a breakpoint is cacheable.
        ("read", "claude-sonnet-4-5", "cached", 3, {"input_tokens": 900, "cache_read_tokens": 900}),
        ("write", "claude-sonnet-4-5", "cached", 4, {"cache_write_5m_tokens": 300}),
        ("plain", "claude-sonnet-4-5", "standard", 5, {"input_tokens": 10_000}),
    )
    openai = staff_client.get(SUMMARY, {"period": "24h", "provider": "openAI"}).json()
    assert openai["cacheable_input_tokens"] == 7_000
    assert openai["cache_hit_rate"] == pytest.approx(3_000 / 7_000)  # not 100%
    claude = staff_client.get(SUMMARY, {"period": "24h", "provider": "anthropic"}).json()
    assert claude["cacheable_input_tokens"] == 1_200
    assert claude["cache_hit_rate"] == pytest.approx(900 / 1_200)
    both = staff_client.get(SUMMARY, {"period": "24h"}).json()
    assert both["cache_hit_rate"] == pytest.approx(3_900 / 8_200)


def test_a_provider_without_prompt_caching_is_left_out_of_the_hit_rate(
    staff_client: Client,
) -> None:
    usage_events_record(
        events=[
            UsageEvent("m", NOW, "mistral", "mistral-large-latest", "standard", input_tokens=9_000)
        ]
    )
    assert LedgerEvent.objects.get().cacheable_input_tokens == 0
    summary = staff_client.get(SUMMARY, {"period": "24h"}).json()
    assert summary["cacheable_input_tokens"] == 0
    assert summary["cache_hit_rate"] is None


def test_the_summary_api_explains_a_bad_period(staff_client: Client) -> None:
    response = staff_client.get(SUMMARY, {"period": "fortnight"})
    assert response.status_code == 400
    assert "must be one of 24h, 7d, 30d, 90d or custom" in response.json()["errors"]["period"]
    response = staff_client.get(SUMMARY, {"start": "2026-02-10", "end": "2026-02-01"})
    assert response.json()["errors"] == {"end": "must be after the start"}


@pytest.mark.parametrize("path", [SUMMARY, "/api/savings/breakdown", "/api/savings/timeseries"])
def test_every_data_endpoint_needs_a_token_or_a_staff_session(
    path: str, staff_client: Client, outsider_client: Client, staff_token: str
) -> None:
    assert Client().get(path).status_code == 401
    assert outsider_client.get(path).status_code == 401
    assert Client().get(path, HTTP_AUTHORIZATION=f"Bearer {staff_token}").status_code == 200
    assert staff_client.get(path).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/savings/",
        "/savings/export/breakdown.csv",
        "/savings/export/events.csv",
        "/savings/what-if/",
    ],
)
def test_every_page_is_for_staff_only(
    path: str, staff_client: Client, outsider_client: Client, staff_token: str
) -> None:
    anonymous = Client().get(path)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/?next=")
    assert outsider_client.get(path).status_code == 403
    assert Client().get(path, HTTP_AUTHORIZATION=f"Bearer {staff_token}").status_code == 302
    assert staff_client.get(path).status_code == 200


def test_a_new_install_shows_how_to_get_data_in(staff_client: Client) -> None:
    page = staff_client.get("/savings/").content.decode()
    assert "No usage recorded yet" in page
    for hint in (
        "make run",
        "manage.py demo_traffic",
        "seed_ledger",
        "HttpUsageRecorder",
        "/api/usage/events",
    ):
        assert hint in page


def test_the_dashboard_shows_headline_split_and_breakdown(
    staff_client: Client, ledger: None
) -> None:
    page = staff_client.get("/savings/", {"period": "24h"}).content.decode()
    assert 'data-figure="cost">$0.0246<' in page
    assert 'data-figure="baseline">$0.0486<' in page
    assert 'data-figure="hit-rate">50.0%<' in page
    assert 'data-figure="cache-write-premium">+$0.0045<' in page
    assert 'id="savings-chart-data"' in page
    assert "cache-read input tokens ÷ cacheable input tokens" in page
    assert "chart-4.5.1.umd.min.js" in page


def test_an_htmx_request_gets_only_the_figures(staff_client: Client, ledger: None) -> None:
    response = staff_client.get(
        "/savings/", {"period": "30d", "model": "gpt-4.1"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert body.startswith('<div id="figures"')
    assert "<html" not in body
    assert 'data-figure="cost">$3.00<' in body


def test_the_breakdown_csv_matches_the_table(staff_client: Client, ledger: None) -> None:
    response = staff_client.get("/savings/export/breakdown.csv", {"period": "30d"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["provider"], r["model"], r["calls"]) for r in rows] == [
        ("openAI", "gpt-4.1", "2"),
        ("anthropic", "claude-sonnet-4-5", "2"),
    ]
    assert Decimal(rows[0]["spend_usd"]) == Decimal(3)
    assert Decimal(rows[0]["baseline_usd"]) == Decimal(4)
    assert rows[0]["batch_share"] == "0.5000"
    assert Decimal(rows[1]["cache_write_premium_usd"]) == Decimal("0.0045")


def test_the_events_csv_streams_every_raw_event_of_the_period(
    staff_client: Client, ledger: None
) -> None:
    response = staff_client.get("/savings/export/events.csv", {"period": "7d"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["request_id"] for r in rows] == ["c", "b", "a"]  # oldest first; "d" is older
    assert rows[2]["cache_read_tokens"] == "6000"
    assert Decimal(rows[2]["cost"]) == Decimal("0.0123")
    assert rows[2]["cost_source"] == "price_table"


def test_what_if_reproduces_the_phase1_plan_appendix_d() -> None:
    # Appendix D: 1M requests/month, 2,000 in / 500 out, Sonnet, 90% hits, premium ignored:
    # $13,500 baseline, $8,640 caching, $6,750 batching, $4,320 both. 30 such calls in 30 days
    # are 30 requests a month, so the figures scale by 30 / 1,000,000.
    record(
        *[
            (
                f"p{n}",
                "claude-sonnet-4-5",
                "standard",
                n * 20,
                {"input_tokens": 2000, "output_tokens": 500},
            )
            for n in range(30)
        ]
    )
    projection = what_if_projection(days=30, hit_rate=Decimal("0.9"), count_write_premium=False)
    scale = Decimal(30) / Decimal(1_000_000)
    assert projection.totals == {
        "baseline": Decimal(13_500) * scale,
        "caching": Decimal(8_640) * scale,
        "batching": Decimal(6_750) * scale,
        "both": Decimal(4_320) * scale,
    }


def test_the_what_if_panel_renders_projections(staff_client: Client, ledger: None) -> None:
    page = staff_client.get(
        "/savings/what-if/", {"days": "30", "hit_rate": "90", "premium": "off"}
    ).content.decode()
    assert "claude-sonnet-4-5" in page
    assert 'data-figure="what-if-both"' in page
    assert "Appendix D" in page


def test_seed_ledger_is_reproducible_and_its_rollups_match(staff_client: Client) -> None:
    out = StringIO()
    call_command(
        "seed_ledger",
        "--events",
        "300",
        "--days",
        "5",
        "--seed",
        "3",
        stdout=out,
        stderr=StringIO(),
    )
    assert "seeded 300 new events" in out.getvalue()
    again = StringIO()
    call_command(
        "seed_ledger",
        "--events",
        "300",
        "--days",
        "5",
        "--seed",
        "3",
        stdout=again,
        stderr=StringIO(),
    )
    assert "seeded 0 new events (300 already present)" in again.getvalue()
    assert LedgerEvent.objects.values("provider").distinct().count() == 3
    assert LedgerEvent.objects.values("mode").distinct().count() == 5
    filters = Filters.of(NOW - timedelta(days=6), NOW + timedelta(hours=1))
    raw = ledger_totals(filters=filters)
    summary = staff_client.get(
        SUMMARY, {"start": filters.start.isoformat(), "end": filters.end.isoformat()}
    ).json()
    assert summary["events"] == raw["events"] == 300
    assert Decimal(summary["cost"]) == raw["cost"]
    assert Decimal(summary["baseline_cost"]) == raw["baseline_cost"]
