"""The Files API as batches use it: resumable uploads, JSONL batch input, a results file."""

from __future__ import annotations

import io
import json

import pytest
from google import genai
from google.genai import errors, types

from optimization.simulator import Clock
from tests.optimization.simulator.gemini_api.conftest import GEMINI


def jsonl(*questions: str) -> bytes:
    lines = [
        {"key": f"k{i}", "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}
        for i, text in enumerate(questions)
    ]
    return "\n".join(json.dumps(line) for line in lines).encode()


def upload(gclient: genai.Client, data: bytes) -> types.File:
    return gclient.files.upload(
        file=io.BytesIO(data), config={"mime_type": "jsonl", "display_name": "input"}
    )


def test_an_upload_is_stored_whole_and_can_be_read_back(gclient: genai.Client) -> None:
    data = jsonl("a", "b")
    uploaded = upload(gclient, data)
    assert uploaded.name
    assert uploaded.name.startswith("files/")
    assert (uploaded.size_bytes, uploaded.display_name) == (len(data), "input")
    assert uploaded.state == types.FileState.ACTIVE
    assert gclient.files.get(name=uploaded.name).size_bytes == len(data)
    with pytest.raises(errors.ClientError):  # only generated files can be downloaded
        gclient.files.download(file=uploaded.name)
    gclient.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError) as gone:
        gclient.files.get(name=uploaded.name)
    assert gone.value.code == 404


def test_a_batch_from_a_file_answers_in_a_file_in_input_order(
    gclient: genai.Client, clock: Clock
) -> None:
    uploaded = upload(gclient, jsonl("first question", "second question", "third question"))
    assert uploaded.name
    job = gclient.batches.create(model=GEMINI, src=uploaded.name, config={"display_name": "f"})
    assert job.name
    clock.advance(60)
    done = gclient.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.dest
    assert done.dest.file_name
    lines = [
        json.loads(line) for line in gclient.files.download(file=done.dest.file_name).splitlines()
    ]
    assert [line["key"] for line in lines] == ["k0", "k1", "k2"]
    texts = [line["response"]["candidates"][0]["content"]["parts"][0]["text"] for line in lines]
    assert [text.split(" ", 1)[1] for text in texts] == [
        "first question",
        "second question",
        "third question",
    ]


def test_a_batch_from_a_missing_file_is_refused(gclient: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as refused:
        gclient.batches.create(model=GEMINI, src="files/nothing", config={"display_name": "x"})
    assert refused.value.code == 400


def test_an_uploaded_file_expires_after_two_days(gclient: genai.Client, clock: Clock) -> None:
    uploaded = upload(gclient, jsonl("a"))
    assert uploaded.name
    clock.advance(48 * 3600 + 1)
    with pytest.raises(errors.ClientError) as gone:
        gclient.files.get(name=uploaded.name)
    assert gone.value.code == 404
