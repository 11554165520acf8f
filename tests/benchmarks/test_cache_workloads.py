"""How the cache planner benchmark tells where conversations end (its figures rely on it)."""

from __future__ import annotations

from langchain_core.messages import HumanMessage

from benchmarks.cache_workloads import Built, Event, ends_of_conversations, turns_of_conversations


def request(time: float, key: str) -> Event:
    def build() -> Built:
        return [HumanMessage(key)], None

    return Event(time, 0.0, key, build)


def test_a_conversations_last_request_and_its_last_before_a_pause_are_its_ends() -> None:
    events = [
        request(0, "a"),
        request(10, "b"),
        request(60, "a"),  # followed 400 s later: its last request before a pause
        request(100, "b"),  # followed exactly at the TTL: in time
        request(400, "b"),  # the last of b
        request(460, "a"),  # the last of a
    ]
    assert ends_of_conversations(events) == [False, False, True, False, True, True]


def test_single_requests_are_all_ends() -> None:
    events = [request(second, f"document {second}") for second in range(5)]
    assert ends_of_conversations(events) == [True] * 5


def test_turns_count_per_conversation_and_note_a_return_from_a_pause() -> None:
    events = [
        request(0, "a"),
        request(10, "b"),
        request(60, "a"),
        request(400, "a"),  # 340 s after its previous request: back from a pause
        request(410, "b"),  # 400 s after its first
        request(700, "a"),  # exactly the TTL after its previous: in time
    ]
    assert turns_of_conversations(events) == [
        (0, False),
        (0, False),
        (1, False),
        (2, True),
        (1, True),
        (3, False),
    ]
