"""Reading requests for the planner: what is reused between requests, and by what key."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from optimization.planner import reading
from optimization.planner.constants import MemorySizes
from optimization.planner.reading import Reader

TOOLS = [
    {"name": "search", "description": "Search the knowledge base. " * 40},
    {"name": "fetch", "description": "Fetch one document. " * 40},
]


def reader(counter: Any = None) -> Reader:
    return Reader(MemorySizes.for_memory(256), counter)


def test_an_equal_message_in_a_new_object_and_string_shares_the_first_reading() -> None:
    read = reader()
    text = "The quarterly report. " * 200
    first = read.read([SystemMessage("rules"), HumanMessage(text)], None, False)
    again = read.read([SystemMessage("rules"), HumanMessage("".join(list(text)))], None, False)
    assert again.infos[1] is first.infos[1]
    other = read.read([SystemMessage("rules"), HumanMessage(text + "!")], None, False)
    assert other.infos[1] is not first.infos[1]
    assert other.hashes[1] != first.hashes[1]


def test_equal_tools_built_anew_for_each_request_are_read_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read = reader()
    calls = []
    fingerprint = reading.fingerprint

    def counted(value: object) -> int:
        calls.append(value)
        return fingerprint(value)

    monkeypatch.setattr(reading, "fingerprint", counted)
    first = read.read([HumanMessage("hi")], TOOLS, True)
    read_tools = len(calls)
    again = read.read([HumanMessage("hi")], copy.deepcopy(TOOLS), True)  # a new model's tools
    assert len(calls) == read_tools
    assert again.hashes[0] == first.hashes[0]


def test_a_tool_redefined_under_the_same_name_is_read_again() -> None:
    read = reader()
    first = read.read([HumanMessage("hi")], TOOLS, True)
    changed = [{**TOOLS[0], "description": "Search the web instead."}, TOOLS[1]]
    again = read.read([HumanMessage("hi")], changed, True)
    assert again.hashes[0] != first.hashes[0]
    assert again.ends[0] < first.ends[0]


def test_a_custom_token_counter_is_asked_once_per_text() -> None:
    asked: list[str] = []

    def count(text: str) -> int:
        asked.append(text)
        return len(text)

    read = reader(count)
    blocks = [{"type": "text", "text": "first block"}, {"type": "text", "text": "second"}]
    for _ in range(3):
        read.read([HumanMessage(copy.deepcopy(blocks))], None, False)
    assert sorted(asked) == ["first block", "second"]


def test_every_part_of_the_memory_is_sized_from_one_number() -> None:
    sizes = MemorySizes.for_memory(8192)
    assert sizes.prefixes == 8192
    assert sizes.snapshots == 1024
    assert sizes.trial_snapshots == 128
    assert sizes.system_texts == 64
    smallest = MemorySizes.for_memory(1)
    assert min(vars(smallest).values()) >= 4
