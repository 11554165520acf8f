"""POST /api/usage/events: validation per event, idempotence, limits, auth."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Sum
from django.test import Client

from llmopt_admin.savings.models import HourlyRollup, LedgerEvent
from llmopt_admin.savings.pipeline import event_price
from llmopt_admin.savings.services import MAX_EVENTS_PER_REQUEST
from llmopt_admin.savings.validation import CheckedEvent, check_event

pytestmark = pytest.mark.django_db
URL = "/api/usage/events"
MakeEvent = Callable[..., dict[str, Any]]


def post(client: Client, body: Any, token: str | None = None, **extra: Any) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **headers, **extra)


def test_it_records_valid_events_and_their_rollups(staff_token: str, make_event: MakeEvent) -> None:
    events = [make_event(n) for n in range(5)]
    response = post(Client(), {"events": events}, staff_token)
    assert response.status_code == 200
    assert response.json() == {"accepted": 5, "duplicates": 0, "rejected": []}
    assert LedgerEvent.objects.count() == 5
    totals = HourlyRollup.objects.aggregate(n=Sum("events"), cost=Sum("cost"))
    assert totals == {"n": 5, "cost": Decimal("0.0615")}  # 5 x $0.0123


def test_sending_the_same_events_again_counts_them_as_duplicates_and_changes_nothing(
    staff_token: str, make_event: MakeEvent
) -> None:
    events = [make_event(n) for n in range(3)]
    post(Client(), {"events": events}, staff_token)
    before = list(HourlyRollup.objects.values())
    again = post(Client(), {"events": [*events, make_event(3), make_event(3)]}, staff_token)
    assert again.json() == {"accepted": 1, "duplicates": 4, "rejected": []}
    assert LedgerEvent.objects.count() == 4
    after = {r["id"]: r for r in HourlyRollup.objects.values()}
    assert sum(r["events"] for r in after.values()) == 4
    new_hour = datetime.fromisoformat(make_event(3)["timestamp"]).replace(minute=0)
    untouched = [row for row in before if row["hour"] != new_hour]
    assert untouched
    assert all(after[row["id"]] == row for row in untouched)


def test_it_rejects_each_bad_event_with_a_message_per_field_and_keeps_the_good_ones(
    staff_token: str, make_event: MakeEvent
) -> None:
    body = {
        "events": [
            make_event(0),
            make_event(1, mode="turbo"),
            make_event(2, input_tokens=-5, output_tokens="many"),
            make_event(3, timestamp="yesterday"),
            make_event(4, timestamp="2026-01-01T10:00:00"),
            "not an object",
            make_event(6, request_id=""),
            make_event(7, model="local-llama", cost=None, baseline_cost=None),
            make_event(8, cost="abc"),
        ]
    }
    response = post(Client(), body, staff_token)
    assert response.status_code == 200
    result = response.json()
    assert result["accepted"] == 1
    rejected = {item["index"]: item for item in result["rejected"]}
    assert set(rejected) == {1, 2, 3, 4, 5, 6, 7, 8}
    assert (
        "must be one of standard, cached, batch, batch+cache, fallback"
        in rejected[1]["errors"]["mode"]
    )
    assert rejected[1]["request_id"] == "req-1"
    assert rejected[2]["errors"]["input_tokens"] == "must not be negative (got -5)"
    assert "whole number" in rejected[2]["errors"]["output_tokens"]
    assert "ISO 8601" in rejected[3]["errors"]["timestamp"]
    assert "UTC offset" in rejected[4]["errors"]["timestamp"]
    assert rejected[5] == {
        "index": 5,
        "request_id": None,
        "errors": {"event": "must be a JSON object, got str"},
    }
    assert "request_id" in rejected[6]["errors"]
    assert "no price is known for 'local-llama'" in rejected[7]["errors"]["model"]
    assert "not a decimal number" in rejected[8]["errors"]["cost"]
    assert LedgerEvent.objects.count() == 1


def test_an_unpriced_model_with_a_reported_cost_is_recorded_as_reported(
    staff_token: str, make_event: MakeEvent
) -> None:
    body = {"events": [make_event(0, model="local-llama", cost="0.25", baseline_cost="0.40")]}
    assert post(Client(), body, staff_token).json()["accepted"] == 1
    row = LedgerEvent.objects.get()
    assert (row.cost_source, row.cost, row.baseline_cost) == (
        "reported",
        Decimal("0.25"),
        Decimal("0.40"),
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"[1, 2]", 'body must be a JSON object {"events": [...]}'),
        (b'{"events": "all of them"}', 'body must be a JSON object {"events": [...]}'),
        (b"\xff\xfe", "body is not valid JSON"),
    ],
)
def test_a_malformed_body_gets_400_with_a_reason_never_500(
    staff_token: str, body: bytes, message: str
) -> None:
    response = post(Client(), body, staff_token)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(message)


def test_too_many_events_or_too_big_a_body_gets_413(
    staff_token: str, make_event: MakeEvent
) -> None:
    many = {"events": [make_event(0)] * (MAX_EVENTS_PER_REQUEST + 1)}
    response = post(Client(), many, staff_token)
    assert response.status_code == 413
    assert "limit is 5000" in response.json()["detail"]
    huge = b'{"events": [], "padding": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    response = post(Client(), huge, staff_token)
    assert response.status_code == 413
    assert "bytes" in response.json()["detail"]
    assert LedgerEvent.objects.count() == 0


def test_ingest_needs_a_token_or_a_staff_session(
    outsider_client: Client, staff_client: Client, outsider_token: str, make_event: MakeEvent
) -> None:
    body = {"events": [make_event(0)]}
    assert post(Client(), body).status_code == 401
    assert post(Client(), body, "llmopt_wrong").status_code == 401
    assert post(outsider_client, body).status_code == 401
    # A machine user's token is enough: the backend's recorder is not a staff member.
    assert post(Client(), body, outsider_token).status_code == 200
    assert post(staff_client, {"events": [make_event(1)]}).json()["accepted"] == 1


def test_a_staff_session_must_send_the_csrf_token(staff_user: Any, make_event: MakeEvent) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert post(client, {"events": [make_event(0)]}).status_code == 403
    client.get("/savings/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = post(client, {"events": [make_event(0)]}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


def test_an_unpriced_model_sent_with_the_recorders_zero_cost_is_rejected_saying_what_to_send(
    staff_token: str, make_event: MakeEvent
) -> None:
    # UsageEvent.to_json() sends cost "0" / baseline_cost "0" when the recorder priced nothing.
    body = {"events": [make_event(0, model="local-llama", cost="0", baseline_cost="0")]}
    result = post(Client(), body, staff_token).json()
    assert result["accepted"] == 0
    message = result["rejected"][0]["errors"]["model"]
    assert "no price is known for 'local-llama'" in message
    assert "send the call's cost and baseline_cost" in message
    assert "LLMOPT_PRICES_FILE" in message
    assert LedgerEvent.objects.count() == 0


def test_text_that_postgresql_cannot_store_is_rejected_and_copy_control_characters_survive(
    staff_token: str, make_event: MakeEvent
) -> None:
    body = {
        "events": [
            make_event(0, request_id="a\x00b"),
            make_event(1, request_id="tab\there\\back\nline\rreturn", batch_id="b\\1"),
        ]
    }
    result = post(Client(), body, staff_token).json()
    assert result["rejected"] == [
        {
            "index": 0,
            "request_id": "a\x00b",
            "errors": {"request_id": "must not contain NUL (\\u0000) characters"},
        }
    ]
    assert result["accepted"] == 1
    stored = LedgerEvent.objects.get()
    assert (stored.request_id, stored.batch_id) == ("tab\there\\back\nline\rreturn", "b\\1")


def test_every_recorded_row_holds_what_event_price_gives_whichever_way_it_was_checked(
    staff_token: str, make_event: MakeEvent
) -> None:
    events = [
        make_event(1),
        make_event(2, mode="batch+cache", cache_write_5m_tokens=2_000, cache_write_1h_tokens=300),
        make_event(3, cost="0.5", baseline_cost="0.9"),  # disagrees with the price table
        make_event(4, cost=0.0123, baseline_cost=0.0210),  # numbers: the detailed check
        make_event(5, request_id=" req-5 ", provider="openai", model="gpt-4.1"),  # padded
        make_event(6, model="in-house-1", cost="0.25", baseline_cost="0.40"),  # unpriced
        make_event(7, timestamp="2026-01-15T11:30:00+01:00", mode="batch"),
        # one model, one day, two price tiers (prompt-length pricing over 100,000 tokens)
        make_event(8, model="claude-haiku-5-5", input_tokens=90_000, cache_read_tokens=10_000),
        make_event(
            9,
            model="claude-haiku-5-5",
            input_tokens=90_000,
            cache_read_tokens=10_001,
            timestamp=make_event(8)["timestamp"],
        ),
        make_event(1),  # repeated in the body
    ]
    response = post(Client(), {"events": events}, staff_token)
    assert response.json() == {"accepted": 9, "duplicates": 1, "rejected": []}
    now = datetime.now().astimezone()
    for raw in events[:-1]:
        checked = check_event(raw, now=now)
        assert isinstance(checked, CheckedEvent)
        priced = event_price(checked.event, cost_given=checked.cost_given)
        row = LedgerEvent.objects.get(request_id=checked.event.request_id)
        assert row.timestamp == checked.event.timestamp
        assert (row.provider, row.model, row.mode) == (priced.provider, priced.model, priced.mode)
        assert (row.cost, row.baseline_cost, row.cache_read_saved) == (
            priced.costs.cost,
            priced.costs.baseline_cost,
            priced.costs.cache_read_saved,
        )
        assert (row.cache_write_premium, row.batch_discount) == (
            priced.costs.cache_write_premium,
            priced.costs.batch_discount,
        )
        assert row.cacheable_input_tokens == priced.cacheable_input_tokens
        assert (row.cost_source, row.reported_cost) == (priced.cost_source, priced.reported_cost)
        assert (row.config_entry, row.batch_id) == (priced.config_entry, priced.batch_id)
    short, long = (LedgerEvent.objects.get(request_id=f"req-{n}") for n in (8, 9))
    assert long.cost > 4 * short.cost  # every token at five times the price
