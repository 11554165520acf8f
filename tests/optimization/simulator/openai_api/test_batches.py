"""Files and the Batch API on the simulator (OpenAI's /v1 and Azure's /openai paths), through
the official SDK over real HTTP, on a frozen clock the tests move."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Final

import httpx
import openai
import pytest

from optimization.simulator import Clock
from optimization.simulator.ledger import params_hash
from optimization.simulator.state import Simulator
from optimization.simulator.testing import restart

MODEL = "gpt-4o-mini"
ENDPOINT: Final = "/v1/chat/completions"
# default settings: start after 1 s, then a request every 0.1 s, finalizing 1 s


def lines(count: int, *, url: str = ENDPOINT, model: str = MODEL) -> bytes:
    rows = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": url,
            "body": {"model": model, "messages": [{"role": "user", "content": f"Question {i}"}]},
        }
        for i in range(count)
    ]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def start(sdk: openai.OpenAI, content: bytes, *, endpoint: str = ENDPOINT, **extra: Any) -> Any:
    uploaded = sdk.files.create(file=("input.jsonl", content), purpose="batch")
    return sdk.batches.create(
        input_file_id=uploaded.id,
        endpoint=endpoint,  # type: ignore[arg-type]
        completion_window="24h",
        **extra,
    )


def file_lines(sdk: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    return [json.loads(line) for line in sdk.files.content(file_id).text.splitlines()]


def simulator_of(sim_app: Any) -> Simulator:
    simulator: Simulator = sim_app.state.simulator
    return simulator


def test_an_uploaded_file_is_retrievable_with_its_exact_bytes(
    openai_client: openai.OpenAI,
) -> None:
    content = lines(3) + "é\n".encode()
    uploaded = openai_client.files.create(file=("input.jsonl", content), purpose="batch")
    assert uploaded.bytes == len(content)
    assert uploaded.purpose == "batch"
    assert uploaded.filename == "input.jsonl"
    assert openai_client.files.retrieve(uploaded.id) == uploaded
    assert openai_client.files.content(uploaded.id).content == content


def test_a_batch_goes_through_every_status_on_the_simulator_clock(
    openai_client: openai.OpenAI, clock: Clock
) -> None:
    batch = start(openai_client, lines(3), metadata={"job": "nightly"})
    created = batch.created_at
    seen = [batch.status]
    for _ in range(6):
        clock.advance(0.5)
        seen.append(openai_client.batches.retrieve(batch.id).status)
    assert seen == [
        "validating",
        "validating",
        "in_progress",
        "finalizing",  # the 3 requests took 0.3 s: done at 1.3 s, finalizing until 2.3 s
        "finalizing",
        "completed",
        "completed",
    ]
    done = openai_client.batches.retrieve(batch.id)
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (3, 3)
    assert done.request_counts.failed == 0
    assert done.metadata == {"job": "nightly"}
    assert done.in_progress_at == created + 1
    assert done.completed_at is not None
    assert done.finalizing_at is not None
    assert done.in_progress_at is not None
    assert done.completed_at >= done.finalizing_at >= done.in_progress_at
    assert done.error_file_id is None
    output = file_lines(openai_client, done.output_file_id)
    assert sorted(line["custom_id"] for line in output) == ["r0", "r1", "r2"]
    for line in output:
        assert line["error"] is None
        assert line["id"].startswith("batch_req_")
        assert line["response"]["status_code"] == 200
        body = line["response"]["body"]
        assert body["object"] == "chat.completion"
        assert f"Question {line['custom_id'][1:]}" in body["choices"][0]["message"]["content"]


def test_failed_requests_go_to_the_error_file_with_their_error_response(
    openai_client: openai.OpenAI, clock: Clock
) -> None:
    batch = start(
        openai_client, lines(10), extra_headers={"x-simulator-faults": "batch_errored=0.5"}
    )
    clock.advance(10)
    done = openai_client.batches.retrieve(batch.id)
    assert done.status == "completed"
    failed = file_lines(openai_client, done.error_file_id)
    succeeded = file_lines(openai_client, done.output_file_id)
    assert done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (
        len(succeeded),
        len(failed),
    )
    assert 0 < len(failed) < 10
    for line in failed:
        assert line["response"]["status_code"] == 500
        assert line["response"]["body"]["error"]["type"] == "server_error"


def test_a_request_the_api_would_refuse_fails_alone(
    openai_client: openai.OpenAI, clock: Clock
) -> None:
    content = lines(1) + lines(1).replace(b'"r0"', b'"r1"').replace(b'"messages"', b'"mesages"')
    batch = start(openai_client, content)
    clock.advance(10)
    done = openai_client.batches.retrieve(batch.id)
    [failed] = file_lines(openai_client, done.error_file_id)
    assert failed["custom_id"] == "r1"
    assert failed["response"]["status_code"] == 400
    assert "mesages" in failed["response"]["body"]["error"]["message"]


def test_a_cancelled_batch_keeps_its_done_part_and_reports_the_rest(
    openai_client: openai.OpenAI, clock: Clock
) -> None:
    batch = start(openai_client, lines(10))
    clock.advance(1.55)  # five requests done
    cancelling = openai_client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling"
    assert cancelling.cancelling_at is not None
    clock.advance(1)
    done = openai_client.batches.retrieve(batch.id)
    assert done.status == "cancelled"
    assert done.cancelled_at is not None
    errors = file_lines(openai_client, done.error_file_id)
    assert len(file_lines(openai_client, done.output_file_id)) == 5
    assert len(errors) == 5
    assert {line["error"]["code"] for line in errors} == {"batch_cancelled"}
    assert all(line["response"] is None for line in errors)
    with pytest.raises(openai.BadRequestError, match="Cannot cancel a batch with status"):
        openai_client.batches.cancel(batch.id)


def test_requests_unfinished_at_24_hours_expire(openai_client: openai.OpenAI, clock: Clock) -> None:
    batch = start(
        openai_client, lines(4), extra_headers={"x-simulator-faults": "batch_never_ends=1"}
    )
    clock.advance(3600)
    assert openai_client.batches.retrieve(batch.id).status == "in_progress"
    clock.advance(86_400)
    done = openai_client.batches.retrieve(batch.id)
    assert done.status == "expired"
    assert done.expired_at == batch.expires_at
    errors = file_lines(openai_client, done.error_file_id)
    assert {line["error"]["code"] for line in errors} == {"batch_expired"}
    assert len(errors) == 2


def test_an_input_file_the_api_refuses_makes_a_failed_batch_naming_each_line(
    openai_client: openai.OpenAI,
) -> None:
    content = (
        lines(1)
        + b"not json\n"
        + lines(1)  # r0 again
        + lines(1, url="/v1/embeddings").replace(b'"r0"', b'"r9"')
        + lines(1, model="gpt-4o").replace(b'"r0"', b'"r8"')
    )
    batch = start(openai_client, content)
    assert batch.status == "failed"
    assert batch.failed_at is not None
    assert batch.errors is not None
    assert batch.errors.data is not None
    found = [(error.code, error.line) for error in batch.errors.data]
    assert found == [
        ("invalid_json_line", 2),
        ("duplicate_custom_id", 3),
        ("mismatched_endpoint", 4),
        ("mismatched_model", 0),
    ]
    assert batch.output_file_id is None


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"completion_window": "1h"}, "completion_window"),
        ({"endpoint": "/v1/nothing"}, "endpoint"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ],
)
def test_a_bad_batch_create_is_a_400_naming_the_param(
    openai_client: openai.OpenAI, base_url: str, change: dict[str, Any], param: str
) -> None:
    uploaded = openai_client.files.create(file=("input.jsonl", lines(1)), purpose="batch")
    body = {
        "input_file_id": uploaded.id,
        "endpoint": ENDPOINT,
        "completion_window": "24h",
        **change,
    }
    response = httpx.post(
        f"{base_url}/v1/batches", json=body, headers={"authorization": "Bearer sk-test"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_an_unknown_batch_or_file_is_a_404(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        openai_client.batches.retrieve("batch_nothing")
    with pytest.raises(openai.NotFoundError):
        openai_client.files.retrieve("file-nothing")
    with pytest.raises(openai.NotFoundError):
        openai_client.batches.create(
            input_file_id="file-nothing", endpoint=ENDPOINT, completion_window="24h"
        )


def test_batches_are_listed_newest_first_a_page_at_a_time(openai_client: openai.OpenAI) -> None:
    made = [start(openai_client, lines(1)).id for _ in range(5)]
    first = openai_client.batches.list(limit=2)
    assert [batch.id for batch in first.data] == made[::-1][:2]
    assert first.has_more
    every = [batch.id for batch in openai_client.batches.list(limit=2)]  # auto-pagination
    assert every == made[::-1]


def test_a_lost_create_response_still_made_the_batch(openai_client: openai.OpenAI) -> None:
    uploaded = openai_client.files.create(file=("input.jsonl", lines(2)), purpose="batch")
    with pytest.raises(openai.APIConnectionError):
        openai_client.batches.create(
            input_file_id=uploaded.id,
            endpoint=ENDPOINT,
            completion_window="24h",
            extra_headers={"x-simulator-faults": "lose_response=1"},
        )
    [listed] = openai_client.batches.list().data
    assert listed.input_file_id == uploaded.id


def test_succeeded_batch_requests_are_billed_once_each(
    openai_client: openai.OpenAI, clock: Clock, sim_app: Any
) -> None:
    start(openai_client, lines(3))
    clock.advance(10)
    counts = simulator_of(sim_app).counts()
    assert {cid: (t.sent, t.billed) for cid, t in counts.batch_requests.items()} == {
        "r0": (1, 1),
        "r1": (1, 1),
        "r2": (1, 1),
    }
    body = json.loads(lines(1).splitlines()[0])["body"]
    assert counts.billed_by_params[params_hash(body)] == 1


def test_a_restart_keeping_state_keeps_batches_and_files_and_a_fresh_one_forgets(
    openai_client: openai.OpenAI, base_url: str, clock: Clock
) -> None:
    batch = start(openai_client, lines(2))
    restart(base_url, keep_state=True)
    clock.advance(10)
    done = openai_client.batches.retrieve(batch.id)
    assert done.status == "completed"
    assert len(file_lines(openai_client, done.output_file_id)) == 2
    restart(base_url, keep_state=False)
    with pytest.raises(openai.NotFoundError):
        openai_client.batches.retrieve(batch.id)


# --- Azure OpenAI: /openai paths, api-key header, api-version query ----------------------------


def test_azure_chat_completions_answer_as_the_deployment(
    azure_client: openai.AzureOpenAI,
) -> None:
    completion = azure_client.chat.completions.create(
        model="my-gpt4o", messages=[{"role": "user", "content": "Hello Azure"}]
    )
    assert completion.model == "my-gpt4o"
    assert (completion.choices[0].message.content or "").endswith("Hello Azure")


def test_an_azure_client_bound_to_a_deployment_reaches_files_and_batches(
    base_url: str, clock: Clock
) -> None:
    with openai.AzureOpenAI(
        azure_endpoint=base_url,
        azure_deployment="my-gpt4o",
        api_key="azure-key",
        api_version="2024-10-21",
        max_retries=0,
    ) as sdk:
        batch = start(
            sdk, lines(2, url="/chat/completions", model="my-gpt4o"), endpoint="/chat/completions"
        )
        clock.advance(10)
        done = sdk.batches.retrieve(batch.id)
        assert done.status == "completed"
        assert [
            line["response"]["body"]["model"] for line in file_lines(sdk, done.output_file_id)
        ] == ["my-gpt4o"] * 2


def test_azure_paths_need_an_api_version(base_url: str) -> None:
    response = httpx.get(f"{base_url}/openai/batches", headers={"api-key": "azure-key"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "api-version"
    versioned = httpx.get(
        f"{base_url}/openai/batches?api-version=2024-10-21", headers={"api-key": "azure-key"}
    )
    assert versioned.status_code == 200
    assert httpx.get(f"{base_url}/openai/v1/batches", headers={"api-key": "k"}).status_code == 200


def test_openai_batches_refuse_azures_endpoint_spelling(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        start(openai_client, lines(1, url="/chat/completions"), endpoint="/chat/completions")
    assert caught.value.param == "endpoint"


def test_the_anthropic_routes_do_not_see_openai_batches(
    openai_client: openai.OpenAI, sim_app: Any
) -> None:
    start(openai_client, lines(1))
    simulator = simulator_of(sim_app)
    assert simulator.batches.list() == []
    assert Counter(b["status"] for b in simulator.openai.batches.list()) == {"validating": 1}
