"""Faults on demand: 429/529/500, slow answers, broken streams and batch failures."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx
import pytest

from optimization.simulator import Clock, Faults, SimulatorSettings, create_app
from optimization.simulator.faults import parse_fault_header
from optimization.simulator.testing import serve
from tests.optimization.simulator.conftest import MODEL
from tests.optimization.simulator.test_batches import DAY, requests_for

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
BODY = {"model": MODEL, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


def ask(client: anthropic.Anthropic, faults: str) -> anthropic.types.Message:
    return client.messages.create(
        model=MODEL,
        max_tokens=20,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-simulator-faults": faults},
    )


def test_rate_limited_requests_get_429_with_retry_after(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/v1/messages",
        json=BODY,
        headers={**HEADERS, "x-simulator-faults": "rate_limit=1"},
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert response.json()["request_id"] == response.headers["request-id"]


@pytest.mark.parametrize(
    ("faults", "error", "kind"),
    [
        ("rate_limit=1", anthropic.RateLimitError, "rate_limit_error"),
        ("overloaded=1", anthropic.OverloadedError, "overloaded_error"),
        ("server_error=1", anthropic.InternalServerError, "api_error"),
    ],
)
def test_the_sdk_raises_its_own_error_for_each_fault(
    client: anthropic.Anthropic, faults: str, error: type[Exception], kind: str
) -> None:
    with pytest.raises(error) as caught:
        ask(client, faults)
    assert caught.value.body["error"]["type"] == kind  # type: ignore[attr-defined]


def test_the_sdk_retries_a_rate_limited_request_and_succeeds(base_url: str) -> None:
    client = anthropic.Anthropic(base_url=base_url, api_key="k", max_retries=5)
    message = ask(client, "rate_limit=0.5")
    assert message.stop_reason == "end_turn"


def test_delay_slows_every_answer(client: anthropic.Anthropic) -> None:
    started = time.monotonic()
    ask(client, "delay_ms=200")
    assert time.monotonic() - started >= 0.2


def test_a_broken_stream_raises_in_the_sdk(client: anthropic.Anthropic) -> None:
    with (
        pytest.raises(anthropic.APIStatusError, match="Overloaded"),
        client.messages.stream(
            model=MODEL,
            max_tokens=50,
            messages=[{"role": "user", "content": "a b c d e f g h"}],
            extra_headers={"x-simulator-faults": "stream_error=1"},
        ) as stream,
    ):
        list(stream.text_stream)


def outcomes(seed: int, faults: str, count: int = 40) -> list[int]:
    with serve(create_app(SimulatorSettings(seed=seed))) as url:
        return [
            httpx.post(
                f"{url}/v1/messages", json=BODY, headers={**HEADERS, "x-simulator-faults": faults}
            ).status_code
            for _ in range(count)
        ]


def test_fault_draws_are_deterministic_for_a_seed() -> None:
    first = outcomes(7, "rate_limit=0.5")
    assert first == outcomes(7, "rate_limit=0.5")
    assert first != outcomes(8, "rate_limit=0.5")
    assert 10 <= first.count(429) <= 30
    assert set(first) == {200, 429}


def test_instance_faults_apply_to_every_request_and_the_header_overrides_them() -> None:
    app = create_app(SimulatorSettings(faults=Faults(overloaded=1)))
    with serve(app) as url:
        client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
        with pytest.raises(anthropic.OverloadedError):
            client.messages.create(
                model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
        assert ask(client, "overloaded=0").stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("explode=1", "unknown fault 'explode=1'"),
        ("rate_limit", "unknown fault 'rate_limit'"),
        ("rate_limit=often", "rate_limit must be a number"),
        ("overloaded=2", "overloaded must be a rate between 0 and 1"),
        ("delay_ms=-5", "delay_ms must be a number >= 0"),
    ],
)
def test_a_bad_fault_header_is_a_400_naming_it(
    client: anthropic.Anthropic, header: str, expected: str
) -> None:
    with pytest.raises(anthropic.BadRequestError, match=expected):
        ask(client, header)


def test_the_fault_header_parser_skips_empty_parts() -> None:
    assert parse_fault_header(" rate_limit=0.5, ,delay_ms=10 ") == {
        "rate_limit": 0.5,
        "delay_ms": 10.0,
    }


def create_batch(client: anthropic.Anthropic, faults: str, count: int = 20) -> Any:
    return client.messages.batches.create(
        requests=requests_for(count),  # type: ignore[arg-type]
        extra_headers={"x-simulator-faults": faults},
    )


def results(client: anthropic.Anthropic, batch_id: str) -> list[Any]:
    """A batch's results, read to the end: a results stream left half-read is closed when it is
    garbage-collected, which can happen inside the next request's connection-pool lock and
    deadlock it (httpcore's lock is not reentrant)."""
    return list(client.messages.batches.results(batch_id))


def kinds(client: anthropic.Anthropic, batch_id: str) -> list[str]:
    return [result.result.type for result in results(client, batch_id)]


def test_batch_errored_makes_a_share_of_requests_fail_with_api_error(
    client: anthropic.Anthropic, clock: Clock
) -> None:
    everything = create_batch(client, "batch_errored=1", count=4)
    some = create_batch(client, "batch_errored=0.5")
    clock.advance(60)
    assert kinds(client, everything.id) == ["errored"] * 4
    errored = results(client, everything.id)[0].result
    assert errored.error.error.type == "api_error"  # type: ignore[union-attr]
    some_kinds = kinds(client, some.id)
    assert 0 < some_kinds.count("errored") < 20
    assert client.messages.batches.retrieve(some.id).request_counts.errored == some_kinds.count(
        "errored"
    )


def test_batch_expired_leaves_a_share_unfinished_until_expiry(
    client: anthropic.Anthropic, clock: Clock
) -> None:
    batch = create_batch(client, "batch_expired=0.5")
    clock.advance(3600)
    waiting = client.messages.batches.retrieve(batch.id)
    assert waiting.processing_status == "in_progress"
    assert 0 < waiting.request_counts.processing < 20
    clock.advance(DAY)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.expired == waiting.request_counts.processing
    assert ended.request_counts.succeeded == 20 - ended.request_counts.expired


def test_a_batch_that_never_ends_stalls_halfway_and_expires(
    client: anthropic.Anthropic, clock: Clock
) -> None:
    batch = create_batch(client, "batch_never_ends=1")
    clock.advance(DAY - 60)
    stalled = client.messages.batches.retrieve(batch.id)
    assert stalled.processing_status == "in_progress"
    assert (stalled.request_counts.succeeded, stalled.request_counts.processing) == (10, 10)
    clock.advance(60)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.ended_at == ended.expires_at
    assert (ended.request_counts.succeeded, ended.request_counts.expired) == (10, 10)


def test_a_batch_canceled_midway_ends_with_the_rest_canceled(
    client: anthropic.Anthropic, clock: Clock
) -> None:
    batch = create_batch(client, "batch_cancel_midway=1")
    clock.advance(1.5)
    early = client.messages.batches.retrieve(batch.id)
    assert (early.processing_status, early.cancel_initiated_at) == ("in_progress", None)
    clock.advance(0.55)  # ten of twenty done: the cancel starts
    canceling = client.messages.batches.retrieve(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    clock.advance(0.5)
    assert client.messages.batches.retrieve(batch.id).processing_status == "canceling"
    clock.advance(60)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert (ended.request_counts.succeeded, ended.request_counts.canceled) == (10, 10)
    assert kinds(client, batch.id).count("canceled") == 10


def test_instance_batch_faults_apply_to_every_batch(clock: Clock) -> None:
    settings = SimulatorSettings(faults=Faults(batch_errored=1))
    with serve(create_app(settings, clock=clock)) as url:
        client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
        batch = client.messages.batches.create(requests=requests_for(3))  # type: ignore[arg-type]
        clock.advance(60)
        assert client.messages.batches.retrieve(batch.id).request_counts.errored == 3


def test_batch_endpoints_can_be_rate_limited_too(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError):
        client.messages.batches.list(extra_headers={"x-simulator-faults": "rate_limit=1"})


def test_fault_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="rate_limit must be a rate between 0 and 1"):
        Faults(rate_limit=1.5)
    with pytest.raises(ValueError, match="speed must be >= 0"):
        SimulatorSettings(speed=-1)
    with pytest.raises(ValueError, match="batch_seconds_per_request must be > 0"):
        SimulatorSettings(batch_seconds_per_request=0)
    with pytest.raises(ValueError, match="only moves forward"):
        Clock().advance(-1)
    with pytest.raises(ValueError, match="speed must be >= 0"):
        Clock(speed=-2)
