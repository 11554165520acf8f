"""Message Batches: create, progress on simulated time, results, list, cancel, delete, expiry."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest
from starlette.applications import Starlette

from optimization.simulator import Clock, SimulatorSettings, create_app
from optimization.simulator.testing import serve
from tests.optimization.simulator.conftest import MODEL

DAY = 86_400
# start delay 1 s, then one request per 0.1 s (the settings' defaults)


def requests_for(count: int, **params: Any) -> list[dict[str, Any]]:
    return [
        {
            "custom_id": f"req-{i}",
            "params": {
                "model": MODEL,
                "max_tokens": 64,
                "messages": [{"role": "user", "content": f"question number {i}"}],
                **params,
            },
        }
        for i in range(count)
    ]


def results_of(client: anthropic.Anthropic, batch_id: str) -> list[Any]:
    return list(client.messages.batches.results(batch_id))


def test_a_batch_progresses_with_simulated_time_and_ends(
    client: anthropic.Anthropic, clock: Clock
) -> None:
    batch = client.messages.batches.create(requests=requests_for(10))  # type: ignore[arg-type]
    assert batch.id.startswith("msgbatch_")
    assert batch.processing_status == "in_progress"
    assert batch.request_counts.processing == 10
    assert batch.results_url is None
    assert (batch.expires_at - batch.created_at).total_seconds() == DAY
    clock.advance(1.55)
    halfway = client.messages.batches.retrieve(batch.id)
    assert halfway.processing_status == "in_progress"
    assert (halfway.request_counts.processing, halfway.request_counts.succeeded) == (5, 5)
    clock.advance(10)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.succeeded == 10
    assert ended.ended_at is not None
    assert (ended.ended_at - ended.created_at).total_seconds() == pytest.approx(2.0)
    assert ended.results_url is not None
    assert ended.results_url.endswith(f"/v1/messages/batches/{batch.id}/results")


def test_results_answer_each_request_as_messages_would_in_another_order(
    client: anthropic.Anthropic, clock: Clock
) -> None:
    batch = client.messages.batches.create(requests=requests_for(6))  # type: ignore[arg-type]
    clock.advance(60)
    results = results_of(client, batch.id)
    order = [result.custom_id for result in results]
    assert sorted(order) == [f"req-{i}" for i in range(6)]
    assert order != [f"req-{i}" for i in range(6)]
    direct = client.messages.create(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "question number 3"}]
    )
    third = next(r for r in results if r.custom_id == "req-3")
    assert third.result.type == "succeeded"
    assert third.result.message.content == direct.content
    assert third.result.message.usage.service_tier == "batch"
    assert third.result.message.usage.input_tokens == direct.usage.input_tokens


def test_batched_requests_read_and_write_the_prompt_cache(
    client: anthropic.Anthropic, clock: Clock
) -> None:
    system = [
        {"type": "text", "text": "shared context " * 400, "cache_control": {"type": "ephemeral"}}
    ]
    batch = client.messages.batches.create(requests=requests_for(3, system=system))  # type: ignore[arg-type]
    clock.advance(60)
    usages = [r.result.message.usage for r in results_of(client, batch.id)]
    assert sorted(u.cache_creation_input_tokens for u in usages) == [0, 0, 1500]
    assert sorted(u.cache_read_input_tokens for u in usages) == [0, 1500, 1500]


def test_invalid_params_end_errored_like_the_real_api(
    client: anthropic.Anthropic, clock: Clock
) -> None:
    requests = requests_for(2)
    requests[1]["params"]["max_tokens"] = 0
    requests[0]["params"]["stream"] = True
    batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    clock.advance(60)
    results = {r.custom_id: r.result for r in results_of(client, batch.id)}
    assert results["req-1"].type == "errored"
    assert results["req-1"].error.error.type == "invalid_request_error"
    assert "max_tokens" in results["req-1"].error.error.message
    assert results["req-0"].type == "errored"
    assert client.messages.batches.retrieve(batch.id).request_counts.errored == 2


@pytest.mark.parametrize(
    ("requests", "expected"),
    [
        ([], "at least 1 item"),
        ([{"custom_id": "bad id!", "params": {}}], "requests.0.custom_id: String should match"),
        ([{"custom_id": "x" * 65, "params": {}}], "requests.0.custom_id"),
        (
            [{"custom_id": "a", "params": {}}, {"custom_id": "a", "params": {}}],
            "Duplicate custom_id",
        ),
        ([{"custom_id": "a"}], "requests.0.params: Field required"),
        (["not an object"], "requests.0: Input should be"),
    ],
)
def test_it_rejects_bad_batches_at_creation(
    client: anthropic.Anthropic, requests: list[Any], expected: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.batches.create(requests=requests)
    assert expected in caught.value.body["error"]["message"]  # type: ignore[index]


def test_it_enforces_the_request_count_and_byte_limits(clock: Clock) -> None:
    settings = SimulatorSettings(batch_max_requests=3, batch_max_bytes=2000)
    with serve(create_app(settings, clock=clock)) as url:
        client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
        with pytest.raises(anthropic.BadRequestError) as too_many:
            client.messages.batches.create(requests=requests_for(4))  # type: ignore[arg-type]
        assert "at most 3 items" in str(too_many.value)
        with pytest.raises(anthropic.APIStatusError) as too_big:
            client.messages.batches.create(
                requests=requests_for(1, system="s" * 3000)  # type: ignore[arg-type]
            )
        assert too_big.value.status_code == 413
        assert (
            client.messages.batches.create(requests=requests_for(3)).request_counts.processing == 3
        )  # type: ignore[arg-type]


def test_unknown_batches_answer_404(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.batches.retrieve("msgbatch_missing")
    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_results_are_refused_before_the_batch_ends(
    base_url: str, client: anthropic.Anthropic
) -> None:
    batch = client.messages.batches.create(requests=requests_for(2))  # type: ignore[arg-type]
    response = httpx.get(
        f"{base_url}/v1/messages/batches/{batch.id}/results",
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 400
    assert "has not ended" in response.json()["error"]["message"]


def test_list_pages_newest_first_with_cursors(client: anthropic.Anthropic) -> None:
    ids = [client.messages.batches.create(requests=requests_for(1)).id for _ in range(5)]  # type: ignore[arg-type]
    newest_first = list(reversed(ids))
    page = client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == newest_first[:2]
    assert page.has_more is True
    assert (page.first_id, page.last_id) == (newest_first[0], newest_first[1])
    assert [b.id for b in client.messages.batches.list(limit=2)] == newest_first  # auto-paging
    after = client.messages.batches.list(limit=2, after_id=newest_first[3])
    assert [b.id for b in after.data] == newest_first[4:]
    assert after.has_more is False
    before = client.messages.batches.list(limit=2, before_id=newest_first[3])
    assert [b.id for b in before.data] == newest_first[1:3]
    assert before.has_more is True
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.list(limit=0)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.list(after_id="msgbatch_unknown")


def test_cancel_goes_through_canceling_and_cancels_what_is_left(
    client: anthropic.Anthropic, clock: Clock
) -> None:
    batch = client.messages.batches.create(requests=requests_for(30))  # type: ignore[arg-type]
    clock.advance(1.35)  # three requests done
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    assert canceling.request_counts.succeeded == 3
    clock.advance(5)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.succeeded == 3
    assert ended.request_counts.canceled == 27
    assert ended.ended_at is not None
    assert (ended.ended_at - canceling.cancel_initiated_at).total_seconds() == pytest.approx(1)
    kinds = [r.result.type for r in results_of(client, batch.id)]
    assert (kinds.count("succeeded"), kinds.count("canceled")) == (3, 27)
    assert client.messages.batches.cancel(batch.id).processing_status == "ended"


def test_delete_is_refused_until_the_batch_ends(client: anthropic.Anthropic, clock: Clock) -> None:
    batch = client.messages.batches.create(requests=requests_for(2))  # type: ignore[arg-type]
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.batches.delete(batch.id)
    assert "cannot be deleted while it is in_progress" in str(caught.value)
    clock.advance(60)
    deleted = client.messages.batches.delete(batch.id)
    assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


@pytest.fixture
def slow_app(clock: Clock) -> Starlette:
    return create_app(SimulatorSettings(batch_seconds_per_request=3600), clock=clock)


def test_unfinished_requests_expire_after_24_simulated_hours(
    slow_app: Starlette, clock: Clock
) -> None:
    with serve(slow_app) as url:
        client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
        batch = client.messages.batches.create(requests=requests_for(30))  # type: ignore[arg-type]
        clock.advance(DAY - 1)
        assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
        clock.advance(1)
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended"
        assert ended.ended_at == ended.expires_at
        assert ended.request_counts.succeeded == 23  # 1 s start, then one an hour
        assert ended.request_counts.expired == 7
        kinds = [r.result.type for r in client.messages.batches.results(batch.id)]
        assert kinds.count("expired") == 7


def test_results_are_sent_in_pieces_of_whole_lines() -> None:
    from optimization.simulator.batch_routes import PIECE_BYTES, _pieces

    lines = [b'{"custom_id": "r%03d", "pad": "%s"}\n' % (i, b"x" * 900) for i in range(200)]
    pieces = list(_pieces(lines[0], iter(lines[1:])))
    assert b"".join(pieces) == b"".join(lines)
    assert len(pieces) > 1
    assert all(piece.endswith(b"\n") for piece in pieces)
    assert all(len(piece) < PIECE_BYTES + 1000 for piece in pieces)
