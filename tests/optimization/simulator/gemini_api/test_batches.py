"""Gemini Batch Mode with inline requests: operation states, ordered output, cancel, delete."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from optimization.simulator import Clock
from tests.optimization.simulator.gemini_api.conftest import GEMINI


def inline(*questions: str) -> list[dict[str, Any]]:
    return [
        {"contents": [{"role": "user", "parts": [{"text": text}]}], "metadata": {"key": f"k{i}"}}
        for i, text in enumerate(questions)
    ]


def batch_body(name: str, requests: list[dict[str, Any]]) -> dict[str, Any]:
    return {"batch": {"displayName": name, "inputConfig": {"requests": {"requests": requests}}}}


def create(gclient: genai.Client, *questions: str, name: str = "job") -> types.BatchJob:
    return gclient.batches.create(
        model=GEMINI,
        src=inline(*questions),  # type: ignore[arg-type]
        config={"display_name": name},
    )


def test_a_batch_runs_through_its_states_and_answers_in_input_order(
    gclient: genai.Client, clock: Clock
) -> None:
    questions = [f"question {i}" for i in range(5)]
    job = create(gclient, *questions)
    assert job.name
    assert job.name.startswith("batches/")
    assert (job.state, job.display_name) == (types.JobState.JOB_STATE_PENDING, "job")
    clock.advance(2.5)  # started, one request done (in shuffled order)
    assert gclient.batches.get(name=job.name).state == types.JobState.JOB_STATE_RUNNING
    clock.advance(10)
    done = gclient.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest
    assert done.dest.inlined_responses
    answers = done.dest.inlined_responses
    assert [item.metadata for item in answers] == [{"key": f"k{i}"} for i in range(5)]
    for item, question in zip(answers, questions, strict=True):
        assert item.response
        assert item.response.text
        assert item.response.text.endswith(question)
        assert item.response.usage_metadata
        assert item.response.usage_metadata.prompt_token_count


def test_an_answer_in_a_batch_is_the_answer_of_generate_content(
    gclient: genai.Client, clock: Clock
) -> None:
    job = create(gclient, "same question")
    clock.advance(60)
    assert job.name
    done = gclient.batches.get(name=job.name)
    direct = gclient.models.generate_content(model=GEMINI, contents="same question")
    assert done.dest
    assert done.dest.inlined_responses
    response = done.dest.inlined_responses[0].response
    assert response is not None
    assert response.text == direct.text


def test_invalid_requests_and_faulted_ones_end_with_their_own_error(
    base_url: str, gclient: genai.Client, clock: Clock
) -> None:
    good = {"request": {"contents": [{"role": "user", "parts": [{"text": "fine"}]}]}}
    bad = {"request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}], "oops": 1}}
    body = {
        "batch": {"displayName": "mixed", "inputConfig": {"requests": {"requests": [good, bad]}}}
    }
    response = httpx.post(
        f"{base_url}/v1beta/models/{GEMINI}:batchGenerateContent?key=k", json=body
    )
    assert response.status_code == 200
    operation = response.json()
    assert operation["metadata"]["state"] == "BATCH_STATE_PENDING"
    assert "done" not in operation
    clock.advance(60)
    done = gclient.batches.get(name=operation["name"])
    assert done.dest
    assert done.dest.inlined_responses
    first, second = done.dest.inlined_responses
    assert first.response is not None
    assert first.error is None
    assert second.response is None
    assert second.error is not None
    assert second.error.code == 400
    assert "oops" in (second.error.message or "")


def test_a_canceled_batch_keeps_what_was_done(gclient: genai.Client, clock: Clock) -> None:
    job = create(gclient, "a", "b", "c", "d")
    assert job.name
    clock.advance(2.5)  # one done
    gclient.batches.cancel(name=job.name)
    clock.advance(5)
    done = gclient.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_CANCELLED
    assert done.dest
    assert done.dest.inlined_responses
    answered = [item for item in done.dest.inlined_responses if item.response is not None]
    assert len(answered) == 1
    assert len(done.dest.inlined_responses) == 4


def test_an_unfinished_batch_expires_after_a_day(gclient: genai.Client, clock: Clock) -> None:
    job = gclient.batches.create(
        model=GEMINI,
        src=inline("a", "b"),  # type: ignore[arg-type]
        config={
            "display_name": "stalls",
            "http_options": {"headers": {"x-simulator-faults": "batch_never_ends=1"}},
        },
    )
    assert job.name
    clock.advance(86_401)
    assert gclient.batches.get(name=job.name).state == types.JobState.JOB_STATE_EXPIRED


def test_batches_are_listed_newest_first_and_deleted(gclient: genai.Client) -> None:
    first, second = create(gclient, "a", name="one"), create(gclient, "b", name="two")
    assert [job.name for job in gclient.batches.list()] == [second.name, first.name]
    assert first.name
    gclient.batches.delete(name=first.name)
    assert [job.name for job in gclient.batches.list()] == [second.name]
    with pytest.raises(errors.ClientError) as gone:
        gclient.batches.get(name=first.name)
    assert (gone.value.code, gone.value.status) == (404, "NOT_FOUND")


def test_a_batch_without_display_name_or_requests_is_refused(base_url: str) -> None:
    for batch in ({"inputConfig": {"requests": {"requests": []}}, "displayName": "x"}, {}):
        response = httpx.post(
            f"{base_url}/v1beta/models/{GEMINI}:batchGenerateContent?key=k",
            json={"batch": batch},
        )
        assert response.status_code == 400
        assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_a_lost_create_response_still_made_the_batch(base_url: str, gclient: genai.Client) -> None:
    body = {
        "batch": {"displayName": "lost", "inputConfig": {"requests": {"requests": inline("a")}}}
    }
    for item in body["batch"]["inputConfig"]["requests"]["requests"]:  # type: ignore[index]
        item["request"] = {"contents": item.pop("contents")}
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(
            f"{base_url}/v1beta/models/{GEMINI}:batchGenerateContent?key=k",
            json=body,
            headers={"x-simulator-faults": "lose_response=1"},
        )
    assert [job.display_name for job in gclient.batches.list()] == ["lost"]
