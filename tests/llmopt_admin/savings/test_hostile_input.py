"""Hostile input to the savings app: never a 500, always a message naming the field, nothing
valid lost.

The ingest API reports each bad event by index and field and stores its valid neighbours; the
dashboard, its API and its CSV exports refuse filters they cannot use before answering (a CSV
stream cannot turn into an error once it has begun); the CSV cells a spreadsheet would run as
formulas are neutralised.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from django.http import StreamingHttpResponse
from django.test import Client
from hostile import (
    DEEP_ARRAY,
    DEEP_OBJECT,
    HUGE_INTEGER,
    dumps,
    hostile_query_values,
    hostile_text,
    hostile_values,
    query,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmopt_admin.savings.models import LedgerEvent
from llmopt_admin.savings.services import usage_events_record
from llmopt_admin.savings.validation import MAX_JSON_DEPTH, json_body_load
from llmopt_admin.savings.views import csv_cell
from optimization.telemetry import UsageEvent

pytestmark = pytest.mark.django_db
URL = "/api/usage/events"
PROPERTY = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EVENT_FIELDS = (
    "request_id",
    "timestamp",
    "provider",
    "model",
    "mode",
    "config_entry",
    "batch_id",
    "input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
    "cost",
    "baseline_cost",
    "extra",  # a field the ledger does not keep
)
REQUIRED_TEXT = ("request_id", "provider", "model")
OPTIONAL_TEXT = ("config_entry", "batch_id")
PAGES = (
    "/savings/",
    "/savings/export/breakdown.csv",
    "/savings/export/events.csv",
    "/savings/what-if/",
    "/api/savings/summary",
    "/api/savings/breakdown",
    "/api/savings/timeseries",
)
QUERY_PARAMS = ("period", "start", "end", "provider", "model", "days", "hit_rate", "premium")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _post(client: Client, token: str, body: str | bytes) -> Any:
    return client.post(
        URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def _content(response: Any) -> str:
    """The whole body, a stream read to its end (a broken stream raises here)."""
    if isinstance(response, StreamingHttpResponse):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.fixture
def ledger() -> None:
    """One event, so the dashboard reads its filters instead of showing the empty state."""
    usage_events_record(
        events=[
            UsageEvent(
                request_id="seed",
                timestamp=datetime.now(UTC) - timedelta(hours=2),
                provider="anthropic",
                model="claude-sonnet-4-5",
                mode="cached",
                input_tokens=1_000,
                output_tokens=100,
            )
        ]
    )


# --- POST /api/usage/events ----------------------------------------------------------------


@PROPERTY
@given(field=st.sampled_from(EVENT_FIELDS), value=hostile_values)
def test_a_hostile_value_in_any_event_field_is_named_and_the_valid_events_are_stored(
    client: Client,
    staff_token: str,
    make_event: Callable[..., dict[str, Any]],
    field: str,
    value: Any,
) -> None:
    tag = uuid4().hex
    before = make_event(0, request_id=f"{tag}-before")
    hostile = make_event(1, **{"request_id": f"{tag}-hostile", field: value})
    after = make_event(2, request_id=f"{tag}-after")
    count = LedgerEvent.objects.count()

    response = _post(client, staff_token, dumps({"events": [before, hostile, after]}))

    assert response.status_code == 200, response.content[:500]
    result = response.json()
    assert LedgerEvent.objects.filter(request_id__in=[f"{tag}-before", f"{tag}-after"]).count() == 2
    assert LedgerEvent.objects.count() == count + result["accepted"]
    assert result["accepted"] + result["duplicates"] + len(result["rejected"]) == 3
    if result["rejected"]:
        (rejected,) = result["rejected"]
        assert rejected["index"] == 1
        assert field in rejected["errors"], rejected
        return
    # Accepted: stored as sent (required text is trimmed, as documented), nothing mangled.
    stored = LedgerEvent.objects.get(request_id=hostile["request_id"].strip())
    if field in REQUIRED_TEXT:
        assert getattr(stored, field) == value.strip()
    elif field in OPTIONAL_TEXT:
        assert getattr(stored, field) == (value or "")
    elif field == "timestamp":
        assert stored.timestamp == datetime.fromisoformat(value)


@PROPERTY
@given(value=hostile_values)
def test_events_that_are_not_a_list_of_objects_are_refused_naming_events(
    client: Client, staff_token: str, value: Any
) -> None:
    count = LedgerEvent.objects.count()
    response = _post(client, staff_token, dumps({"events": value}))
    assert response.status_code in (200, 400), response.content[:500]
    body = response.json()
    if response.status_code == 400:
        assert "events" in body["errors"]
    else:  # a list: each of its items is reported by index
        assert body["accepted"] == 0
        assert [r["index"] for r in body["rejected"]] == list(range(len(body["rejected"])))
    assert LedgerEvent.objects.count() == count


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [
        ("0001-01-01T00:00:00+23:59", "outside years 1-9999 once converted to UTC"),
        ("9999-12-31T23:59:59-23:59", "outside years 1-9999 once converted to UTC"),
        ("9999-12-31T23:59:59+23:59", "more than a day in the future"),
    ],
)
def test_a_timestamp_at_the_edge_of_the_calendar_is_named_and_its_neighbours_stored(
    client: Client,
    staff_token: str,
    make_event: Callable[..., dict[str, Any]],
    timestamp: str,
    message: str,
) -> None:
    events = [make_event(0), make_event(1, timestamp=timestamp), make_event(2)]
    response = _post(client, staff_token, json.dumps({"events": events}))
    assert response.status_code == 200
    assert response.json()["accepted"] == 2
    (rejected,) = response.json()["rejected"]
    assert rejected["index"] == 1
    assert message in rejected["errors"]["timestamp"]


def test_an_offset_with_seconds_is_stored_as_the_same_instant_in_utc(
    client: Client, staff_token: str, make_event: Callable[..., dict[str, Any]]
) -> None:
    # PostgreSQL reads no offset finer than a minute; the event is stored in UTC.
    offset = timezone(timedelta(hours=5, minutes=30, seconds=15, microseconds=500_000))
    moment = (datetime.now(UTC) - timedelta(hours=3)).astimezone(offset)
    event = make_event(7, timestamp=moment.isoformat())
    response = _post(client, staff_token, json.dumps({"events": [event]}))
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert LedgerEvent.objects.get(request_id="req-7").timestamp == moment


@pytest.mark.parametrize("field", ["request_id", "provider", "model", "config_entry", "batch_id"])
def test_a_lone_surrogate_is_named_and_the_valid_events_are_stored(
    client: Client, staff_token: str, make_event: Callable[..., dict[str, Any]], field: str
) -> None:
    hostile = json.dumps(make_event(1, **{field: "x\ud800"}))  # JSON's escape: "x\ud800"
    events = [json.dumps(make_event(0)), hostile, json.dumps(make_event(2))]
    body = '{"events": [' + ", ".join(events) + "]}"
    response = _post(client, staff_token, body)
    assert response.status_code == 200
    assert response.json()["accepted"] == 2
    assert "lone surrogate" in response.json()["rejected"][0]["errors"][field]
    assert LedgerEvent.objects.filter(request_id__in=["req-0", "req-2"]).count() == 2


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        ("extra", DEEP_ARRAY, f"nested more than {MAX_JSON_DEPTH} levels deep"),
        ("model", DEEP_OBJECT, f"nested more than {MAX_JSON_DEPTH} levels deep"),
        ("input_tokens", HUGE_INTEGER, "5000 digits, too long to read"),
    ],
)
def test_json_too_deep_or_too_long_for_python_is_named_per_event_and_the_rest_is_stored(
    client: Client,
    staff_token: str,
    make_event: Callable[..., dict[str, Any]],
    field: str,
    raw: Any,
    message: str,
) -> None:
    events = [make_event(0), make_event(1, **{field: raw}), make_event(2)]
    response = _post(client, staff_token, dumps({"events": events}))
    assert response.status_code == 200
    result = response.json()
    assert result["accepted"] == 2
    assert [r["index"] for r in result["rejected"]] == [1]
    assert message in result["rejected"][0]["errors"][field]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\xff\xfe\xff", "body is not valid JSON"),
        (b'{"events": [', "body is not valid JSON"),
        (("[" * 30_000 + "]" * 30_000).encode(), 'body must be a JSON object {"events"'),
        (('{"events": ' + "[" * 30_000).encode(), "never closes"),
        (b'{"events": {"a": 1}}', 'body must be a JSON object {"events"'),
    ],
)
def test_a_body_that_cannot_be_read_is_a_400_saying_why(
    client: Client, staff_token: str, body: bytes, why: str
) -> None:
    response = _post(client, staff_token, body)
    assert response.status_code == 400
    assert why in response.json()["detail"]
    assert response.json()["errors"]
    assert not LedgerEvent.objects.exists()


@pytest.mark.parametrize("length", ["9" * 5_000, "1" + "0" * 30, "²", "١٢"])
def test_a_content_length_python_cannot_read_is_no_500(
    client: Client, staff_token: str, make_event: Callable[..., dict[str, Any]], length: str
) -> None:
    response = client.post(
        URL,
        data=json.dumps({"events": [make_event(0)]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {staff_token}",
        CONTENT_LENGTH=length,
    )
    assert response.status_code in (400, 413)
    assert "body" in response.json()["detail"]


def test_the_body_reader_cuts_only_what_is_too_deep() -> None:
    shallow = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)  # the object is a level
    body = f'{{"ok": {shallow}, "deep": {DEEP_ARRAY.text}, "n": {HUGE_INTEGER.text}}}'
    parsed = json_body_load(body.encode())
    assert parsed["ok"] == json.loads(shallow)
    assert parsed.marked == {
        "deep": f"is nested more than {MAX_JSON_DEPTH} levels deep",
        "n": "is a number of 5000 digits, too long to read",
    }


# --- query strings: the dashboard, its API, the CSV exports, the what-if panel --------------


@PROPERTY
@given(
    path=st.sampled_from(PAGES),
    params=st.dictionaries(
        st.sampled_from(QUERY_PARAMS), hostile_query_values, min_size=1, max_size=4
    ),
)
def test_hostile_query_parameters_are_refused_naming_them_or_served_in_full(
    staff_client: Client, ledger: None, path: str, params: dict[str, str]
) -> None:
    response = staff_client.get(query(path, params))
    assert response.status_code in (200, 400)
    content = _content(response)  # a CSV is read to its end: it must not break off
    if response.status_code == 400:
        named = set(params) | ({"start", "end"} if {"start", "end"} & set(params) else set())
        assert any(field in content for field in named), content[:500]


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("name", ["provider", "model"])
def test_a_nul_in_a_filter_is_a_400_naming_it_on_every_page(
    staff_client: Client, ledger: None, path: str, name: str
) -> None:
    response = staff_client.get(path, {name: "anthropic\x00"})
    assert response.status_code == 400
    assert not isinstance(response, StreamingHttpResponse)  # refused before any row is sent
    assert name in response.content.decode()
    assert "NUL" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"end": "9999-12-31"}, "end"),
        ({"start": "9999-12-31"}, "start"),
        ({"start": "0001-01-01T00:00:00+23:59", "end": "0001-01-03"}, "start"),
        ({"start": "9999-12-29", "end": "9999-12-31T23:59:59-23:59"}, "end"),
        ({"model": "m" * 500}, "model"),
    ],
)
def test_dates_at_the_end_of_the_calendar_and_overlong_filters_are_named(
    staff_client: Client, ledger: None, params: dict[str, str], field: str
) -> None:
    for path in PAGES:
        response = staff_client.get(path, params)
        assert response.status_code == 400, path
        assert field in response.content.decode(), path


def test_the_dashboard_shows_the_default_period_under_the_message(
    staff_client: Client, ledger: None
) -> None:
    page = staff_client.get("/savings/", {"provider": "a\x00"})
    assert page.status_code == 400
    text = page.content.decode()
    assert "provider must not contain NUL" in text
    assert "Showing the last 30 days instead." in text
    assert 'name="htmx-config"' in text  # htmx swaps the 400 in, message and all


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"days": "²"}, "days"),  # str.isdigit() says yes; int() says no
        ({"days": "9" * 5_000}, "days"),
        ({"days": "0"}, "days"),
        ({"hit_rate": "NaN"}, "hit_rate"),
        ({"hit_rate": "1e999999999"}, "hit_rate"),
        ({"premium": "maybe"}, "premium"),
    ],
)
def test_what_if_refuses_values_it_cannot_use_naming_them(
    staff_client: Client, ledger: None, params: dict[str, str], field: str
) -> None:
    response = staff_client.get("/savings/what-if/", params)
    assert response.status_code == 400
    assert field in response.content.decode()


# --- CSV cells a spreadsheet would run ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-12.50", "-12.50"),  # a number written as text stays a number
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        (Decimal("-0.0012"), Decimal("-0.0012")),
        (-3, -3),
    ],
)
def test_csv_cells_that_would_run_as_formulas_get_a_leading_quote(value: Any, cell: Any) -> None:
    assert csv_cell(value) == cell


@settings(max_examples=50)
@given(value=hostile_text)
def test_no_text_cell_starts_a_formula_and_none_is_changed_beyond_the_quote(value: str) -> None:
    cell = csv_cell(value)
    assert cell in (value, "'" + value)
    if cell != value:
        assert value.startswith(FORMULA_STARTS)


def test_the_exports_neutralise_formulas_and_keep_numbers(
    client: Client,
    staff_client: Client,
    staff_token: str,
    make_event: Callable[..., dict[str, Any]],
) -> None:
    event = make_event(
        1,
        request_id="@evil",
        provider="+provider",
        model="=cmd|' /C calc'!A0",
        config_entry="\t=1",
        batch_id="-2+3",
        cost="0.5",
        baseline_cost="1.5",
    )
    assert _post(client, staff_token, json.dumps({"events": [event]})).json()["accepted"] == 1
    events = staff_client.get("/savings/export/events.csv", {"period": "7d"})
    (row,) = csv.DictReader(io.StringIO(_content(events)))
    assert (row["request_id"], row["provider"], row["model"]) == (
        "'@evil",
        "'+provider",
        "'=cmd|' /C calc'!A0",
    )
    assert (row["config_entry"], row["batch_id"]) == ("'\t=1", "'-2+3")
    assert (Decimal(row["cost"]), Decimal(row["baseline_cost"])) == (Decimal("0.5"), Decimal("1.5"))
    breakdown = staff_client.get("/savings/export/breakdown.csv", {"period": "7d"})
    (line,) = csv.DictReader(io.StringIO(_content(breakdown)))
    assert (line["provider"], line["model"]) == ("'+provider", "'=cmd|' /C calc'!A0")
    assert Decimal(line["saved_usd"]) == Decimal(1)
