"""Steering a running simulator (faults at run time), its billing counts, and unique ids."""

from __future__ import annotations

import anthropic
import httpx
import pytest
from starlette.applications import Starlette

from optimization.simulator import Clock, Faults, SimulatorSettings, create_app
from optimization.simulator.faults import FAULT_NAMES
from optimization.simulator.ledger import params_hash
from optimization.simulator.lost import ConnectionLostError
from optimization.simulator.state import Simulator
from optimization.simulator.testing import serve
from tests.optimization.simulator.conftest import MODEL, START
from tests.optimization.simulator.test_batches import requests_for
from tests.optimization.simulators import LiveSimulator

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
BODY = {"model": MODEL, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


def state_of(app: Starlette) -> Simulator:
    simulator: Simulator = app.state.simulator
    return simulator


def ask(client: anthropic.Anthropic, **headers: str) -> anthropic.types.Message:
    return client.messages.create(**BODY, extra_headers=headers)  # type: ignore[arg-type]


# --- faults at run time ---------------------------------------------------------------------


def test_the_faults_endpoint_replaces_the_instance_faults(
    base_url: str, client: anthropic.Anthropic
) -> None:
    assert httpx.get(f"{base_url}/_simulator/faults").json() == dict.fromkeys(FAULT_NAMES, 0.0)
    answer = httpx.post(f"{base_url}/_simulator/faults", json={"overloaded": 1})
    assert answer.status_code == 200
    assert answer.json()["overloaded"] == 1.0
    with pytest.raises(anthropic.OverloadedError):
        ask(client)
    assert ask(client, **{"x-simulator-faults": "overloaded=0"}).stop_reason == "end_turn"
    httpx.post(f"{base_url}/_simulator/faults", json={"lose_response": 0.5})
    assert httpx.get(f"{base_url}/_simulator/faults").json()["overloaded"] == 0.0  # replaced
    httpx.post(f"{base_url}/_simulator/faults", json={})
    assert ask(client).stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"explode": 1}, "unknown fault 'explode'"),
        ({"overloaded": 2}, "overloaded must be a rate between 0 and 1"),
        ({"overloaded": True}, "overloaded must be a number"),
        ({"delay_ms": "10"}, "delay_ms must be a number"),
        ([1], "expected a JSON object"),
    ],
)
def test_bad_faults_are_a_400_naming_them(base_url: str, body: object, expected: str) -> None:
    answer = httpx.post(f"{base_url}/_simulator/faults", json=body)
    assert answer.status_code == 400
    assert answer.json()["type"] == "error"
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert expected in answer.json()["error"]["message"]
    assert httpx.get(f"{base_url}/_simulator/faults").json()["overloaded"] == 0.0


def test_the_python_helper_switches_faults_in_process(simulator: LiveSimulator) -> None:
    client = anthropic.Anthropic(base_url=simulator.url, api_key="k", max_retries=0)
    simulator.set_faults({"server_error": 1})
    with pytest.raises(anthropic.InternalServerError):
        ask(client)
    assert simulator.state.set_faults(Faults()) == Faults()
    assert ask(client).stop_reason == "end_turn"
    with pytest.raises(ValueError, match="unknown fault 'nope'"):
        simulator.set_faults({"nope": 1})


def test_steering_takes_no_sequence_number_so_draws_do_not_move() -> None:
    def statuses(steer: bool) -> list[int]:
        app = create_app(SimulatorSettings(seed=7))
        with serve(app) as url, httpx.Client(base_url=url) as http:
            seen = []
            for _ in range(20):
                if steer:
                    http.post("/_simulator/faults", json={"rate_limit": 0.5})
                    http.get("/_simulator/counts")
                headers = {**HEADERS, "x-simulator-faults": "rate_limit=0.5"}
                seen.append(http.post("/v1/messages", json=BODY, headers=headers))
            return [response.status_code for response in seen]

    assert statuses(steer=False) == statuses(steer=True)


# --- counts ---------------------------------------------------------------------------------


def test_batch_requests_are_counted_as_sent_then_billed_when_they_succeed(
    base_url: str, client: anthropic.Anthropic, clock: Clock, sim_app: Starlette
) -> None:
    good = client.messages.batches.create(requests=requests_for(2))  # type: ignore[arg-type]
    client.messages.batches.create(
        requests=requests_for(2, max_tokens=32),  # type: ignore[arg-type]
        extra_headers={"x-simulator-faults": "batch_errored=1"},
    )
    counts = state_of(sim_app).counts()
    assert {cid: (t.sent, t.billed) for cid, t in counts.batch_requests.items()} == {
        "req-0": (2, 0),
        "req-1": (2, 0),
    }
    assert len(counts.sent_by_params) == 4  # same custom_ids, different params
    assert counts.billed_by_params == {}
    clock.advance(60)
    counts = state_of(sim_app).counts()
    assert counts.batch_requests["req-0"].billed == 1  # errored requests are not billed
    billed = {params_hash(r["params"]) for r in requests_for(2)}
    assert counts.billed_by_params == dict.fromkeys(billed, 1)
    assert set(counts.sent_by_params.values()) == {1}
    assert httpx.get(f"{base_url}/_simulator/counts").json() == counts.as_json()
    assert client.messages.batches.retrieve(good.id).request_counts.succeeded == 2


def test_canceled_and_expired_requests_are_not_billed(
    client: anthropic.Anthropic, clock: Clock, sim_app: Starlette
) -> None:
    client.messages.batches.create(
        requests=requests_for(4),  # type: ignore[arg-type]
        extra_headers={"x-simulator-faults": "batch_cancel_midway=1"},
    )
    client.messages.batches.create(
        requests=requests_for(2, max_tokens=8),  # type: ignore[arg-type]
        extra_headers={"x-simulator-faults": "batch_never_ends=1"},
    )
    clock.advance(2 * 86_400)
    counts = state_of(sim_app).counts()
    assert sum(counts.sent_by_params.values()) == 6
    assert sum(counts.billed_by_params.values()) == 2 + 1  # half of each


def test_messages_are_counted_per_body_once_answered(
    base_url: str, client: anthropic.Anthropic, sim_app: Starlette
) -> None:
    ask(client)
    ask(client)
    with pytest.raises(anthropic.RateLimitError):
        ask(client, **{"x-simulator-faults": "rate_limit=1"})
    streamed = {**BODY, "stream": True}
    httpx.post(f"{base_url}/v1/messages", json=streamed, headers=HEADERS)
    assert state_of(sim_app).counts().messages == {params_hash(BODY): 2, params_hash(streamed): 1}
    assert httpx.get(f"{base_url}/_simulator/counts").json()["messages"] == {
        params_hash(BODY): 2,
        params_hash(streamed): 1,
    }


def test_params_hash_ignores_key_order_and_spacing() -> None:
    assert params_hash({"a": 1, "b": [1, 2]}) == params_hash({"b": [1, 2], "a": 1})
    assert params_hash({"a": 1}) != params_hash({"a": 2})


# --- ids ------------------------------------------------------------------------------------


def test_ids_differ_between_instances_with_the_same_seed_but_faults_do_not() -> None:
    def run() -> tuple[str, str, list[tuple[str, str]]]:
        clock = Clock(START, speed=0)
        with serve(create_app(SimulatorSettings(seed=3), clock=clock)) as url:
            client = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
            message = ask(client)
            batch = client.messages.batches.create(
                requests=requests_for(12),  # type: ignore[arg-type]
                extra_headers={"x-simulator-faults": "batch_errored=0.5"},
            )
            clock.advance(60)
            results = client.messages.batches.results(batch.id)
            outcomes = [(result.custom_id, result.result.type) for result in results]
            return message.id, batch.id, outcomes

    first, second = run(), run()
    assert first[0] != second[0]
    assert first[1] != second[1]
    assert first[2] == second[2]  # same processing order, same errored requests
    assert {kind for _, kind in first[2]} == {"succeeded", "errored"}


async def test_a_lost_response_without_a_server_transport_raises_to_the_client() -> None:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        with pytest.raises(ConnectionLostError):
            await client.post(
                "/v1/messages",
                json=BODY,
                headers={**HEADERS, "x-simulator-faults": "lose_response=1"},
            )
