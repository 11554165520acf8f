"""JSONL and API request validation in Anthropic's Message Batches format."""

from __future__ import annotations

import json

import pytest

from llmopt_admin.batches.validation import (
    MAX_REPORTED_ERRORS,
    RequestsInvalid,
    validate_jsonl,
    validate_requests,
)


def _line(custom_id: str = "a", **params: object) -> str:
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    body.update(params)
    return json.dumps({"custom_id": custom_id, "params": body})


def _errors(lines: list[str]) -> list[str]:
    with pytest.raises(RequestsInvalid) as caught:
        validate_jsonl(lines)
    return [str(e) for e in caught.value.errors]


def test_it_accepts_valid_lines_in_order_and_skips_blank_lines() -> None:
    requests = validate_jsonl([_line("first"), "", "  \n", _line("second").encode()])
    assert [r.custom_id for r in requests] == ["first", "second"]
    assert requests[0].params["max_tokens"] == 64


def test_it_names_the_line_and_field_of_a_missing_max_tokens() -> None:
    bad = json.loads(_line("b"))
    del bad["params"]["max_tokens"]
    assert _errors([_line("a"), json.dumps(bad)]) == [
        "line 2, params.max_tokens: is required and must be a positive integer"
    ]


def test_it_reports_a_line_that_is_not_json_with_its_number() -> None:
    errors = _errors([_line("a"), "{not json"])
    assert len(errors) == 1
    assert errors[0].startswith("line 2: is not valid JSON")


def test_it_reports_a_line_that_is_not_utf8() -> None:
    assert _errors([b"\xff\xfe"]) == ["line 1: is not valid UTF-8"]


def test_it_rejects_a_repeated_custom_id_naming_the_first_line() -> None:
    assert _errors([_line("same"), _line("same")]) == ["line 2, custom_id: 'same' repeats line 1"]


@pytest.mark.parametrize(
    ("custom_id", "field"),
    [("has space", "custom_id"), ("x" * 65, "custom_id"), ("", "custom_id")],
)
def test_it_rejects_custom_ids_the_api_would_refuse(custom_id: str, field: str) -> None:
    assert _errors([_line(custom_id)])[0].startswith(f"line 1, {field}:")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"model": ""}, "params.model"),
        ({"max_tokens": 0}, "params.max_tokens"),
        ({"max_tokens": True}, "params.max_tokens"),
        ({"messages": []}, "params.messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "params.messages[0].role"),
        ({"messages": [{"role": "user", "content": ""}]}, "params.messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"text": "x"}]}]},
            "params.messages[0].content[0]",
        ),
        ({"temperature": 1.5}, "params.temperature"),
        ({"top_p": "high"}, "params.top_p"),
        ({"top_k": -1}, "params.top_k"),
        ({"stop_sequences": "END"}, "params.stop_sequences"),
        ({"stream": True}, "params.stream"),
        ({"system": []}, "params.system"),
    ],
)
def test_it_names_each_broken_param(params: dict[str, object], field: str) -> None:
    assert _errors([_line("a", **params)])[0].startswith(f"line 1, {field}:")


def test_it_rejects_unknown_top_level_keys_and_missing_params() -> None:
    assert _errors([json.dumps({"custom_id": "a", "extra": 1})]) == [
        'line 1, extra: is not allowed (only "custom_id" and "params")',
        "line 1, params: is required",
    ]


def test_it_rejects_a_line_that_is_not_an_object() -> None:
    assert _errors(["[1, 2]"])[0].startswith("line 1: must be a JSON object")


def test_it_rejects_an_empty_file() -> None:
    assert _errors(["", "\n"]) == ["input: has no requests"]


def test_it_counts_every_error_but_lists_only_the_first_ones() -> None:
    lines = [json.dumps({"custom_id": f"c{i}"}) for i in range(MAX_REPORTED_ERRORS + 10)]
    with pytest.raises(RequestsInvalid) as caught:
        validate_jsonl(lines)
    assert caught.value.total == MAX_REPORTED_ERRORS + 10
    assert len(caught.value.errors) == MAX_REPORTED_ERRORS
    assert "(and 57 more)" in str(caught.value)


def test_it_validates_api_requests_naming_their_index() -> None:
    with pytest.raises(RequestsInvalid) as caught:
        validate_requests(
            [("requests[0]", json.loads(_line("a"))), ("requests[1]", {"custom_id": "b"})]
        )
    assert [str(e) for e in caught.value.errors] == ["requests[1], params: is required"]
