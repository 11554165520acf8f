"""Restarting a served simulator on the same URL, keeping or losing its state."""

from __future__ import annotations

import asyncio
import dataclasses

import anthropic
import httpx
import pytest

from optimization.simulator import Clock
from optimization.simulator.ledger import params_hash
from optimization.simulator.testing import restart
from tests.optimization.simulator.test_batches import requests_for
from tests.optimization.simulators import FAST, LiveSimulator, MakeSimulator

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


@pytest.fixture
def frozen(make_simulator: MakeSimulator) -> LiveSimulator:
    return make_simulator(FAST, clock=Clock(speed=0))


def sdk(simulator: LiveSimulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=simulator.url, api_key="k", max_retries=0)


def test_unknown_batch_ids_answer_404_in_the_api_error_shape(simulator: LiveSimulator) -> None:
    for method, path in [
        ("GET", "/v1/messages/batches/msgbatch_nope"),
        ("GET", "/v1/messages/batches/msgbatch_nope/results"),
        ("POST", "/v1/messages/batches/msgbatch_nope/cancel"),
        ("DELETE", "/v1/messages/batches/msgbatch_nope"),
    ]:
        answer = httpx.request(method, simulator.url + path, headers=HEADERS)
        assert answer.status_code == 404
        body = answer.json()
        assert body["type"] == "error"
        assert body["error"] == {
            "type": "not_found_error",
            "message": "No batch found with id msgbatch_nope.",
        }


def test_a_restart_losing_state_forgets_every_batch(frozen: LiveSimulator) -> None:
    client = sdk(frozen)
    old = client.messages.batches.create(requests=requests_for(2))  # type: ignore[arg-type]
    url, state = frozen.url, frozen.state
    frozen.restart(keep_state=False)
    assert (frozen.url, frozen.state is state) == (url, False)
    for call in (
        client.messages.batches.retrieve,
        client.messages.batches.cancel,
        lambda batch_id: list(client.messages.batches.results(batch_id)),
    ):
        with pytest.raises(anthropic.NotFoundError) as caught:
            call(old.id)
        assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert list(client.messages.batches.list()) == []
    new = client.messages.batches.create(requests=requests_for(2))  # type: ignore[arg-type]
    assert new.id != old.id  # same seed, same sequence number, yet a new id
    assert frozen.batch_ids() == [new.id]


def test_a_restart_keeping_state_keeps_the_batches_and_their_progress(
    frozen: LiveSimulator,
) -> None:
    client = sdk(frozen)
    old = client.messages.batches.create(requests=requests_for(3))  # type: ignore[arg-type]
    frozen.set_faults({"batch_errored": 1})
    frozen.restart(keep_state=True)
    frozen.clock.advance(60)
    ended = client.messages.batches.retrieve(old.id)
    assert (ended.processing_status, ended.request_counts.succeeded) == ("ended", 3)
    assert len(list(client.messages.batches.results(old.id))) == 3
    new = client.messages.batches.create(requests=requests_for(1))  # type: ignore[arg-type]
    assert frozen.batch_ids() == [old.id, new.id]
    assert frozen.state.faults.batch_errored == 1  # faults set at run time survive too


def test_counts_survive_a_restart_losing_state_and_the_old_batches_still_bill(
    frozen: LiveSimulator,
) -> None:
    client = sdk(frozen)
    requests = requests_for(2)
    client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    frozen.restart(keep_state=False)
    client.messages.batches.create(requests=requests)  # type: ignore[arg-type]  # again
    frozen.clock.advance(60)
    counts = frozen.counts()
    assert counts.billed_by_params == {params_hash(r["params"]): 2 for r in requests}
    assert httpx.get(f"{frozen.url}/_simulator/counts").json() == counts.as_json()
    frozen.restart(keep_state=False, keep_counts=False)
    assert frozen.counts().batch_requests == {}


def test_a_restart_can_be_asked_for_by_url(base_url: str, client: anthropic.Anthropic) -> None:
    old = client.messages.batches.create(requests=requests_for(1))  # type: ignore[arg-type]
    state = restart(base_url, keep_state=True)
    assert client.messages.batches.retrieve(old.id).id == old.id
    assert restart(base_url, keep_state=False) is not state
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(old.id)
    with pytest.raises(KeyError):
        restart("http://127.0.0.1:1", keep_state=True)


async def created_batches(simulator: LiveSimulator) -> list[str]:
    """The batch ids, once there are any (the create request is still waiting to answer)."""
    for _ in range(500):
        if ids := simulator.batch_ids():
            return ids
        await asyncio.sleep(0.01)
    raise AssertionError("no batch was created")


@pytest.mark.parametrize("keep_state", [True, False])
async def test_a_create_in_flight_during_a_restart_fails_after_making_its_batch(
    frozen: LiveSimulator, keep_state: bool
) -> None:
    async with anthropic.AsyncAnthropic(base_url=frozen.url, api_key="x", max_retries=0) as api:
        create = asyncio.create_task(
            api.messages.batches.create(
                requests=requests_for(2),  # type: ignore[arg-type]
                extra_headers={"x-simulator-faults": "create_delay_ms=30000"},
            )
        )
        [made] = await created_batches(frozen)
        await asyncio.to_thread(frozen.restart, keep_state=keep_state)
        with pytest.raises(anthropic.APIConnectionError):
            await asyncio.wait_for(create, timeout=5)
        listed = [batch.id async for batch in api.messages.batches.list()]
    assert listed == ([made] if keep_state else [])
    assert sum(frozen.counts().sent_by_params.values()) == 2


def test_a_restart_keeps_settings_and_clock(make_simulator: MakeSimulator) -> None:
    settings = dataclasses.replace(FAST, batch_max_requests=2)
    live = make_simulator(settings, clock=Clock(speed=0))
    clock = live.clock
    live.restart(keep_state=False)
    assert (live.state.settings, live.clock) == (settings, clock)
    with pytest.raises(anthropic.BadRequestError):
        sdk(live).messages.batches.create(requests=requests_for(3))  # type: ignore[arg-type]
