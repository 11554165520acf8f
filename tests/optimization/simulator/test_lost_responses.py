"""Faults after the work is done: lost responses and slow creates, as the SDK sees them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import pytest
from starlette.applications import Starlette

from optimization.simulator import Clock, Faults, SimulatorSettings, create_app
from optimization.simulator.ledger import params_hash
from optimization.simulator.state import Simulator
from optimization.simulator.testing import serve
from tests.optimization.simulator.conftest import MODEL
from tests.optimization.simulator.test_batches import requests_for

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
LOSE = {"x-simulator-faults": "lose_response=1"}
BODY = {"model": MODEL, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def sdk(base_url: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=base_url, api_key="x", max_retries=0) as client:
        yield client


def disconnected(error: anthropic.APIConnectionError) -> bool:
    """The SDK's cause is the transport's RemoteProtocolError (from httpx or the SDK's httpx2
    fork, hence the name check): the server closed the connection without a response."""
    cause = error.__cause__
    return type(cause).__name__ == "RemoteProtocolError" and "without sending" in str(cause)


def state_of(app: Starlette) -> Simulator:
    simulator: Simulator = app.state.simulator
    return simulator


async def test_a_lost_batch_create_raises_a_connection_error_but_the_batch_exists(
    sdk: anthropic.AsyncAnthropic, sim_app: Starlette, clock: Clock
) -> None:
    requests = requests_for(3)
    with pytest.raises(anthropic.APIConnectionError) as caught:
        await sdk.messages.batches.create(requests=requests, extra_headers=LOSE)  # type: ignore[arg-type]
    assert disconnected(caught.value)
    [batch] = [batch async for batch in sdk.messages.batches.list()]
    assert (await sdk.messages.batches.retrieve(batch.id)).request_counts.processing == 3
    clock.advance(60)
    counts = state_of(sim_app).counts()
    for request in requests:
        assert counts.batch_requests[request["custom_id"]].billed == 1
        assert counts.billed_by_params[params_hash(request["params"])] == 1


async def test_retrying_a_lost_create_is_how_a_client_pays_twice(
    sdk: anthropic.AsyncAnthropic, sim_app: Starlette, clock: Clock
) -> None:
    requests = requests_for(2)
    with pytest.raises(anthropic.APIConnectionError):
        await sdk.messages.batches.create(requests=requests, extra_headers=LOSE)  # type: ignore[arg-type]
    await sdk.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    clock.advance(60)
    counts = state_of(sim_app).counts()
    assert {params_hash(r["params"]) for r in requests} == set(counts.billed_by_params)
    assert set(counts.billed_by_params.values()) == {2}
    assert counts.batch_requests["req-0"].sent == 2


async def test_a_lost_message_was_answered_and_billed(
    sdk: anthropic.AsyncAnthropic, sim_app: Starlette
) -> None:
    with pytest.raises(anthropic.APIConnectionError) as caught:
        await sdk.messages.create(**BODY, extra_headers=LOSE)  # type: ignore[arg-type]
    assert disconnected(caught.value)
    assert state_of(sim_app).counts().messages == {params_hash(BODY): 1}
    await sdk.messages.create(**BODY)  # type: ignore[arg-type]
    assert state_of(sim_app).counts().messages == {params_hash(BODY): 2}


async def test_a_lost_stream_fails_before_any_event(sdk: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.APIConnectionError):
        await sdk.messages.create(**BODY, stream=True, extra_headers=LOSE)  # type: ignore[arg-type]


def test_httpx_sees_the_server_disconnect_without_a_response(base_url: str) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        httpx.post(f"{base_url}/v1/messages", json=BODY, headers={**HEADERS, **LOSE})
    # the server is fine afterwards, on a new connection
    assert httpx.post(f"{base_url}/v1/messages", json=BODY, headers=HEADERS).status_code == 200


def test_lost_responses_are_drawn_deterministically_per_request() -> None:
    def outcomes(seed: int) -> list[str]:
        settings = SimulatorSettings(seed=seed, faults=Faults(lose_response=0.5))
        with serve(create_app(settings)) as url, httpx.Client(base_url=url) as http:
            seen = []
            for _ in range(30):
                try:
                    http.post("/v1/messages", json=BODY, headers=HEADERS)
                    seen.append("ok")
                except httpx.TransportError:
                    seen.append("lost")
            return seen

    first = outcomes(5)
    assert first == outcomes(5)
    assert first != outcomes(6)
    assert 5 <= first.count("lost") <= 25


def test_a_lost_response_on_a_refused_request_is_just_the_refusal(
    client: anthropic.Anthropic, sim_app: Starlette
) -> None:
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(
            model=MODEL,
            max_tokens=0,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers=LOSE,
        )
    assert state_of(sim_app).counts().messages == {}


async def test_a_slow_create_shows_the_batch_before_answering(
    sdk: anthropic.AsyncAnthropic,
) -> None:
    started = time.monotonic()
    create = asyncio.create_task(
        sdk.messages.batches.create(
            requests=requests_for(2),  # type: ignore[arg-type]
            extra_headers={"x-simulator-faults": "create_delay_ms=1000"},
        )
    )
    listed: list[Any] = []
    while not listed:
        await asyncio.sleep(0.02)
        listed = [batch async for batch in sdk.messages.batches.list()]
    assert not create.done()
    retrieved = await sdk.messages.batches.retrieve(listed[0].id)
    assert retrieved.processing_status == "in_progress"
    batch = await create
    assert time.monotonic() - started >= 1.0
    assert batch.id == listed[0].id


async def test_a_client_timing_out_on_a_slow_create_leaves_the_batch_behind(
    base_url: str, sdk: anthropic.AsyncAnthropic
) -> None:
    impatient = anthropic.AsyncAnthropic(base_url=base_url, api_key="x", max_retries=0, timeout=0.1)
    async with impatient:
        with pytest.raises(anthropic.APITimeoutError):
            await impatient.messages.batches.create(
                requests=requests_for(1),  # type: ignore[arg-type]
                extra_headers={"x-simulator-faults": "create_delay_ms=500"},
            )
    assert len([batch async for batch in sdk.messages.batches.list()]) == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("lose_response=1.5", "lose_response must be a rate between 0 and 1"),
        ("create_delay_ms=-1", "create_delay_ms must be a number >= 0"),
    ],
)
def test_the_new_faults_are_checked(
    client: anthropic.Anthropic, header: str, expected: str
) -> None:
    with pytest.raises(anthropic.BadRequestError, match=expected):
        client.messages.batches.list(extra_headers={"x-simulator-faults": header})
    assert Faults(create_delay_ms=60_000).create_delay_ms == 60_000
