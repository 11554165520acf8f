"""The cache planner: limits, rules, markers, learning from reuse, and its invariants."""

from __future__ import annotations

import copy
import gc
import threading
import weakref
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import PrivateAttr

from optimization._tokens import estimate_tokens
from optimization.cache_manager import MARKER, CacheManager, cache_control_for, ttl_of
from optimization.capabilities import ProviderCapabilities
from optimization.config import OptimizationConfig
from optimization.messages import messages_to_anthropic_params

MODEL = "claude-sonnet-4-5"
MIN_TOKENS = 1024


def caps(provider: str = "anthropic", model: str = MODEL) -> ProviderCapabilities:
    return ProviderCapabilities.detect(provider, model)


def config(**fields: Any) -> OptimizationConfig:
    return OptimizationConfig.from_dict(
        {"optimizationEnabled": True, "cachingEnabled": True, **fields}, strict=True
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def planner(clock: Clock | None = None, **fields: Any) -> CacheManager:
    return CacheManager(caps(), config(**fields), clock=clock or Clock())


def long(tokens: int, tag: str) -> str:
    return (f"{tag} " + "lorem ipsum dolor sit amet " * tokens)[: tokens * 4]


def marks(messages: list[BaseMessage], tools: list[dict[str, Any]] | None = None) -> list[Any]:
    """(where, ttl) of every breakpoint, in prompt order: tools, then messages."""
    found: list[Any] = []
    for index, tool in enumerate(tools or ()):
        if "cache_control" in tool:
            found.append((("tool", index), ttl_of(tool["cache_control"])))
    for position, message in enumerate(messages):
        if isinstance(message.content, list):
            for index, block in enumerate(message.content):
                if isinstance(block, dict) and "cache_control" in block:
                    found.append(((position, index), ttl_of(block["cache_control"])))
    return found


def marked_messages(messages: list[BaseMessage]) -> list[int]:
    return [where[0] for where, _ in marks(messages)]


SYSTEM = SystemMessage(long(2000, "system"))


# -- who gets breakpoints at all ----------------------------------------------------------


def test_automatic_caching_providers_keep_and_count_the_callers_own_breakpoints() -> None:
    manager = CacheManager(caps("openAI", "gpt-4o"), config())
    block = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    planned = manager.plan([HumanMessage([block, "y"])])
    assert planned.breakpoints == 1
    assert planned.messages[0].content == [block, "y"]


def test_it_leaves_automatic_caching_providers_untouched() -> None:
    manager = CacheManager(caps("openAI", "gpt-4o"), config())
    messages = [SYSTEM, HumanMessage(f"hello {MARKER} there")]
    planned = manager.plan(messages, [{"name": "t", "cache_control": {"type": "ephemeral"}}])
    assert planned.messages == messages
    assert planned.messages is not messages
    assert planned.breakpoints == 1
    assert not manager.enabled


@pytest.mark.parametrize(
    "fields",
    [{"cachingEnabled": False}, {"cacheBreakpoints": "off"}, {"optimizationEnabled": False}],
)
def test_it_places_no_breakpoints_when_caching_is_not_wanted(fields: dict[str, Any]) -> None:
    manager = CacheManager(caps(), config(**fields))
    messages = [SYSTEM, HumanMessage(long(2000, "question"))]
    for _ in range(3):
        assert manager.add_cache_markers(messages) == messages


# -- conversations ------------------------------------------------------------------------


def test_a_chat_gets_its_tail_marked_from_the_first_turn_and_reads_it_next_turn() -> None:
    clock = Clock()
    manager = planner(clock)
    history: list[BaseMessage] = [SYSTEM, HumanMessage(long(300, "q1"))]
    first = manager.add_cache_markers(history)
    # The long static prefix, which the next request reads, and the first turn: an
    # application's first turns are written until its traffic shows they are not followed.
    assert marks(first) == [((0, 0), 300), ((1, 0), 300)]
    clock.now += 30
    history += [AIMessage(long(400, "a1")), HumanMessage(long(300, "q2"))]
    second = manager.add_cache_markers(history)
    assert 3 in marked_messages(second)  # the tail, which the next turn extends
    clock.now += 30
    history += [AIMessage(long(400, "a2")), HumanMessage(long(300, "q3"))]
    third = manager.add_cache_markers(history)
    assert marked_messages(third)[-1] == 5
    assert all(ttl == 300 for _, ttl in marks(third))


def _rebuilt(message: BaseMessage) -> BaseMessage:
    """An equal message made from scratch, with a new string, as a backend reading its store."""
    text = "".join(list(str(message.content)))
    if isinstance(message, ToolMessage):
        return ToolMessage(text, tool_call_id=message.tool_call_id)
    if isinstance(message, AIMessage):
        return AIMessage(text, tool_calls=message.tool_calls)
    return type(message)(text)


def test_a_backend_that_rebuilds_its_messages_every_turn_gets_the_same_placement() -> None:
    clock = Clock()
    kept, rebuilt = planner(clock), planner(clock)
    history: list[BaseMessage] = [SYSTEM, HumanMessage(long(300, "task"))]
    for turn in range(6):
        fresh = [_rebuilt(message) for message in history]
        assert fresh[1] is not history[1]
        assert fresh[1].content is not history[1].content
        assert marks(rebuilt.add_cache_markers(fresh)) == marks(kept.add_cache_markers(history))
        clock.now += 20
        call = {"name": "search", "args": {"q": str(turn)}, "id": f"toolu_{turn}"}
        history += [
            AIMessage("", tool_calls=[call]) if turn % 2 else AIMessage(long(200, f"a{turn}")),
            ToolMessage(long(400, f"r{turn}"), tool_call_id=f"toolu_{turn}")
            if turn % 2
            else HumanMessage(long(100, f"q{turn}")),
        ]


def test_requests_rebuilt_for_every_call_are_not_kept_alive_by_the_planner() -> None:
    manager = planner()
    alive: list[weakref.ref[BaseMessage]] = []
    for number in range(200):
        messages = [SystemMessage(str(SYSTEM.content)), HumanMessage(long(300, f"q{number}"))]
        manager.add_cache_markers(messages)
        alive.append(weakref.ref(messages[1]))
    del messages
    gc.collect()
    # only the last memory_size / 64 readings wait for a reuse (see CacheManager)
    assert sum(ref() is not None for ref in alive) <= 8192 // 64


def test_a_message_whose_content_is_replaced_in_place_is_read_again() -> None:
    manager = planner(cacheBreakpoints=["messages:-1"])
    question = HumanMessage(long(1500, "first"))
    messages: list[BaseMessage] = [SYSTEM, question]
    assert marks(manager.add_cache_markers(messages)) == [((1, 0), 300)]
    question.content = long(1500, "second") + MARKER + "tail"
    planned = manager.add_cache_markers(messages)
    assert [block["text"] for block in planned[1].content] == [  # type: ignore[index, union-attr]
        long(1500, "second"),
        "tail",
    ]
    assert marks(planned) == [((1, 0), 300), ((1, 1), 300)]


def test_a_new_conversation_of_a_chatty_family_marks_its_first_turn() -> None:
    clock = Clock()
    manager = planner(clock)
    for number in range(3):
        history: list[BaseMessage] = [SYSTEM, HumanMessage(long(200, f"c{number}q1"))]
        first = manager.add_cache_markers(history)
        clock.now += 20
        history += [AIMessage(long(300, "answer")), HumanMessage(long(100, "follow-up"))]
        manager.add_cache_markers(history)
        clock.now += 20
    assert marked_messages(first) == [1]  # learned: first turns here get follow-ups


def test_an_agent_loop_with_many_parallel_tool_calls_marks_the_previous_tail_exactly() -> None:
    clock = Clock()
    manager = planner(clock)
    history: list[BaseMessage] = [SYSTEM, HumanMessage(long(300, "task"))]
    for step in range(3):
        ids = [f"toolu_{step}_{k}" for k in range(11)]
        history.append(
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "grep", "args": {"q": str(k), "at": [k, 1.5]}, "id": i}
                    for k, i in enumerate(ids)
                ],
            )
        )
        history += [
            ToolMessage(long(200, f"r{step}{k}"), tool_call_id=i) for k, i in enumerate(ids)
        ]
        planned = manager.add_cache_markers(history)
        clock.now += 5
    where = marked_messages(planned)
    previous_tail = len(history) - 13  # before the last assistant turn and its 11 results
    assert previous_tail in where
    assert len(history) - 1 in where
    tail = planned[-1]
    assert isinstance(tail, ToolMessage)
    assert tail.content[0]["type"] == "tool_result"  # type: ignore[index]
    # langchain-anthropic sends it as a marked tool_result whose content is still the string
    params = messages_to_anthropic_params(planned, model=MODEL)
    block = params["messages"][-1]["content"][-1]
    assert block["cache_control"] == {"type": "ephemeral"}
    assert block["content"] == history[-1].content
    assert manager.add_cache_markers(planned) == planned


def test_an_assistant_turn_with_tool_calls_never_carries_the_breakpoint() -> None:
    manager = planner()
    call = {"name": "grep", "args": {}, "id": "toolu_1"}
    messages = [
        SYSTEM,
        HumanMessage(long(300, "q")),
        AIMessage(content=long(200, "a"), tool_calls=[call]),
    ]
    for _ in range(2):
        planned = manager.add_cache_markers(messages)
    assert 2 not in marked_messages(planned)


# -- single-turn traffic ------------------------------------------------------------------


def test_rag_requests_mark_the_shared_system_prompt_and_soon_stop_writing_their_tails() -> None:
    clock = Clock()
    manager = planner(clock)
    tails_marked = []
    for number in range(30):
        messages = [SYSTEM, HumanMessage(long(4000, f"context {number}"))]
        marked = marked_messages(manager.add_cache_markers(messages))
        clock.now += 10
        # The system prompt is written once, then read: marked, or looked back at from the tail.
        assert marked in ([0, 1], [1], [0])
        tails_marked.append(1 in marked)
    # A new application's first turns are written until they are seen going unread.
    assert tails_marked[0] is True
    assert not any(tails_marked[10:])


def test_tails_that_are_no_longer_extended_stop_being_marked() -> None:
    clock = Clock()
    manager = planner(clock)
    # Two-step pipelines: the second step extends the first, but nothing extends the second.
    tails_marked = []
    for number in range(40):
        first = [SYSTEM, HumanMessage(long(1500, f"doc {number}"))]
        manager.add_cache_markers(first)
        clock.now += 5
        second = [*first, AIMessage(long(300, "draft")), HumanMessage("Now shorten it.")]
        planned = manager.add_cache_markers(second)
        tails_marked.append(3 in marked_messages(planned))
        clock.now += 60
    assert tails_marked[1] is True
    assert tails_marked[-1] is False


def test_a_few_shot_block_behind_a_short_system_prompt_gets_cached() -> None:
    manager = planner()
    shots: list[BaseMessage] = []
    for index in range(4):
        shots += [
            HumanMessage(long(300, f"example {index}")),
            AIMessage(long(300, f"shot {index}")),
        ]
    system = SystemMessage("You classify tickets.")
    for number in range(5):
        planned = manager.add_cache_markers([system, *shots, HumanMessage(f"ticket {number}")])
    assert marked_messages(planned) == [len(shots)]


def test_one_off_documents_are_never_marked() -> None:
    clock = Clock()
    manager = planner(clock)
    system = SystemMessage("Summarise.")
    for number in range(20):
        planned = manager.add_cache_markers([system, HumanMessage(long(8000, f"doc {number}"))])
        assert marks(planned) == []
        clock.now += 15


# -- markers, rules, TTLs, limits ---------------------------------------------------------


def test_the_marker_is_cut_out_and_becomes_a_breakpoint() -> None:
    manager = planner()
    text = long(1500, "instructions") + MARKER + "\nWhat now?"
    planned = manager.add_cache_markers([HumanMessage(text)])
    content = planned[0].content
    assert isinstance(content, list)
    assert content[0] == {
        "type": "text",
        "text": long(1500, "instructions"),
        "cache_control": {"type": "ephemeral"},
    }
    assert content[1]["text"] == "\nWhat now?"
    assert all(MARKER not in block["text"] for block in content)


def test_a_marker_below_the_minimum_length_is_removed_without_a_breakpoint() -> None:
    manager = planner()
    planned = manager.add_cache_markers(
        [SystemMessage(f"Short.{MARKER} Rules."), HumanMessage("hi")]
    )
    assert marks(planned) == []
    assert [block["text"] for block in planned[0].content] == ["Short.", " Rules."]  # type: ignore[index]


def test_a_marker_at_the_start_of_a_message_marks_the_message_before() -> None:
    manager = planner()
    planned = manager.add_cache_markers([SYSTEM, HumanMessage(f"{MARKER}Question?")])
    assert marks(planned)[0] == ((0, 0), 300)
    assert [block["text"] for block in planned[1].content] == ["Question?"]  # type: ignore[index]


def test_blank_text_between_markers_is_dropped() -> None:
    manager = planner()
    text = long(1100, "a") + MARKER + "  " + MARKER + "b"
    planned = manager.add_cache_markers([HumanMessage(text)])
    assert planned[0].content == [
        {"type": "text", "text": long(1100, "a"), "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "b"},
    ]


@pytest.mark.parametrize("kind", ["human", "tool", "assistant_with_calls"])
def test_a_message_that_was_only_a_marker_plans_the_same_when_planned_again(kind: str) -> None:
    # Found by the invariant test: the marker-only message goes out as "" and that output,
    # planned again, must read as the same request (no new breakpoint on the image before it).
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "QQ=="},
    }
    last: BaseMessage = {
        "human": HumanMessage(MARKER),
        "tool": ToolMessage(MARKER, tool_call_id="call_1"),
        "assistant_with_calls": AIMessage(
            MARKER, tool_calls=[{"name": "search", "args": {"q": "x"}, "id": "call_1"}]
        ),
    }[kind]
    manager = planner()
    planned = manager.plan([HumanMessage([image]), HumanMessage([""]), last])
    assert planned.messages[2].content == ""
    again = manager.plan(planned.messages, planned.tools)
    assert again.messages == planned.messages
    assert again.breakpoints == planned.breakpoints


def test_a_marked_message_keeps_every_other_field_of_the_original() -> None:
    original = AIMessage(
        long(1500, "answer"),
        id="msg_1",
        name="assistant",
        additional_kwargs={"k": 1},
        response_metadata={"model": MODEL},
        custom="extra field",
    )
    manager = planner(cacheBreakpoints=["messages:-1"])
    marked = manager.add_cache_markers([SYSTEM, original])[1]
    assert marked is not original
    assert marked == original.model_copy(update={"content": marked.content})
    assert marked.model_fields_set == original.model_fields_set | {"content"}
    assert marked.__pydantic_extra__ == {"custom": "extra field"}
    assert marked.__pydantic_extra__ is not original.__pydantic_extra__
    assert isinstance(original.content, str)


class _NoteMessage(HumanMessage):
    """A message class with a private attribute, as an application might define one."""

    _note: str = PrivateAttr(default="")


def test_a_marked_message_of_a_class_with_private_attributes_keeps_them() -> None:
    original = _NoteMessage(long(1500, "question"))
    original._note = "kept"
    manager = planner(cacheBreakpoints=["messages:-1"])
    marked = manager.add_cache_markers([SYSTEM, original])[1]
    assert isinstance(marked, _NoteMessage)
    assert marked._note == "kept"
    assert marked.content[0]["cache_control"] == {"type": "ephemeral"}  # type: ignore[index]
    assert original.content == long(1500, "question")


def test_a_system_message_after_the_conversation_started_is_never_marked() -> None:
    manager = planner(cacheBreakpoints=["messages:-1"])
    late = SystemMessage(long(1500, "late") + MARKER + "rest")
    planned = manager.add_cache_markers([HumanMessage(long(100, "q")), late])
    assert marks(planned) == []
    assert all(MARKER not in block["text"] for block in planned[1].content)  # type: ignore[index]


def test_the_automatic_choice_fills_only_the_slots_the_caller_left() -> None:
    clock = Clock()
    manager = planner(clock)
    caller = [
        {"type": "text", "text": long(100, f"c{n}"), "cache_control": {"type": "ephemeral"}}
        for n in range(3)
    ]
    history: list[BaseMessage] = [SYSTEM, HumanMessage(caller), AIMessage(long(300, "a"))]
    history.append(HumanMessage(long(300, "q")))
    manager.add_cache_markers(history)
    clock.now += 10
    history += [AIMessage(long(300, "a2")), HumanMessage(long(300, "q2"))]
    assert len(marks(manager.add_cache_markers(history))) == 4


def test_memory_stays_bounded_and_old_outcomes_decay() -> None:
    clock = Clock()
    manager = CacheManager(caps(), config(), clock=clock, memory_size=16)
    for number in range(260):
        system = SystemMessage(long(1200, f"family {number % 40}"))
        history: list[BaseMessage] = [system, HumanMessage(long(100, f"q{number}"))]
        manager.plan(history, [{"name": "t", "description": f"tool {number}"}])
        clock.now += 2
        history += [AIMessage(long(50, "a")), HumanMessage(long(50, f"again {number}"))]
        assert len(marks(manager.add_cache_markers(history))) <= 4
        clock.now += 2
    assert manager._placement.memory_entries() <= 16
    assert len(manager._placement._bets) <= 16
    assert len(manager._placement._families) <= 16


def test_markers_count_against_the_limit() -> None:
    manager = planner()
    text = MARKER.join(long(1100, f"part {n}") for n in range(6))
    planned = manager.add_cache_markers([HumanMessage(text), HumanMessage(long(3000, "more"))])
    assert len(marks(planned)) == 4


def test_the_callers_breakpoints_count_and_extras_are_dropped() -> None:
    manager = planner()
    blocks = [
        {"type": "text", "text": long(400, f"b{n}"), "cache_control": {"type": "ephemeral"}}
        for n in range(6)
    ]
    planned = manager.plan([HumanMessage(blocks)])
    assert [where for where, _ in marks(planned.messages)] == [(0, 0), (0, 3), (0, 4), (0, 5)]
    assert planned.breakpoints == 4


def test_one_hour_ttl_comes_from_the_config_and_never_follows_a_five_minute_one() -> None:
    manager = planner(cacheTTL=3600)
    caller = {"type": "text", "text": long(1200, "early"), "cache_control": {"type": "ephemeral"}}
    messages = [HumanMessage([caller, {"type": "text", "text": long(1200, "x") + MARKER + "y"}])]
    planned = manager.add_cache_markers(messages)
    assert [ttl for _, ttl in marks(planned)] == [300, 300]
    only_ours = manager.add_cache_markers([HumanMessage(long(1200, "x") + MARKER + "y")])
    assert only_ours[0].content[0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}  # type: ignore[index]
    assert cache_control_for(3600) == {"type": "ephemeral", "ttl": "1h"}


def test_explicit_rules_place_exactly_the_breakpoints_asked_for() -> None:
    manager = planner(cacheBreakpoints=["tools", "system", "messages:-1", "messages:7"])
    tools = [{"name": "search", "description": long(1500, "tool")}]
    messages = [SYSTEM, HumanMessage(long(100, "q")), AIMessage("a"), HumanMessage("last")]
    planned = manager.plan(messages, tools)
    assert [where for where, _ in marks(planned.messages, planned.tools)] == [
        ("tool", 0),
        (0, 0),
        (3, 0),
    ]
    assert "cache_control" not in tools[0]


def test_tools_are_only_counted_by_add_cache_markers_but_marked_by_plan() -> None:
    tools = [
        {"name": "a", "description": long(800, "a")},
        {"name": "b", "description": long(800, "b")},
    ]
    by_plan = planner()
    by_markers = planner()
    messages = [HumanMessage(long(100, "q"))]
    planned = by_plan.plan(messages, tools)
    marked = by_markers.add_cache_markers(messages, tools)
    assert marks([], planned.tools) == [(("tool", 1), 300)]
    assert marks(marked) == []
    assert all("cache_control" not in tool for tool in tools)


def test_images_and_block_lists_are_read_and_marked_in_place() -> None:
    manager = planner(cacheBreakpoints=["messages:-1"])
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"},
    }
    messages: list[BaseMessage] = [SYSTEM, HumanMessage([{"type": "text", "text": "Look:"}, image])]
    for _ in range(2):
        planned = manager.add_cache_markers(messages)
    assert planned[1].content[1] == {**image, "cache_control": {"type": "ephemeral"}}  # type: ignore[index]
    assert "cache_control" not in image


def test_an_exact_token_counter_replaces_the_estimate() -> None:
    counted: list[str] = []

    def count(text: str) -> int:
        counted.append(text)
        return 5000

    manager = CacheManager(caps(), config(), token_counter=count, clock=Clock())
    planned = manager.add_cache_markers([HumanMessage("tiny" + MARKER + "rest")])
    assert marks(planned) == [((0, 0), 300)]
    assert "tiny" in counted


def test_planning_is_safe_from_several_threads() -> None:
    manager = planner()
    errors: list[BaseException] = []

    def work(number: int) -> None:
        try:
            for turn in range(50):
                history = [SYSTEM, HumanMessage(long(300, f"t{number}-{turn}"))]
                assert len(marks(manager.add_cache_markers(history))) <= 4
        except BaseException as error:  # collected for the assert below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# -- invariants on arbitrary conversations --------------------------------------------------

texts = st.one_of(
    st.sampled_from(["", " ", "hi", MARKER, f"a{MARKER}", f"{MARKER}b"]),
    st.builds(
        lambda size, marker, tag: long(size, tag) + (MARKER + tag if marker else ""),
        st.integers(1, 1500),
        st.booleans(),
        st.sampled_from(["x", "y", "z"]),
    ),
)
cache_controls = st.sampled_from(
    [None, None, None, {"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}]
)


@st.composite
def blocks(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["str", "text", "text", "image", "other"]))
    if kind == "str":
        return draw(texts)
    if kind == "other":
        return {"type": "search_result", "source": "kb", "content": [{"type": "text", "text": "k"}]}
    block: dict[str, Any] = (
        {"type": "text", "text": draw(texts)}
        if kind == "text"
        else {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "QQ=="},
        }
    )
    control = draw(cache_controls)
    if control is not None:
        block["cache_control"] = control
    return block


@st.composite
def conversations(draw: st.DrawFn, text_only: bool = False) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    if draw(st.booleans()):
        messages.append(SystemMessage(draw(texts)))
    for index in range(draw(st.integers(1, 8))):
        content: Any = (
            draw(texts)
            if text_only or draw(st.booleans())
            else draw(st.lists(blocks(), min_size=1, max_size=3))
        )
        role = draw(st.sampled_from(["human", "ai", "tool"] if not text_only else ["human", "ai"]))
        if role == "human":
            messages.append(HumanMessage(content))
        elif role == "ai":
            calls = (
                []
                if text_only or draw(st.booleans())
                else [{"name": "f", "args": {}, "id": f"toolu_{index}"}]
            )
            messages.append(AIMessage(content=content, tool_calls=calls))
        else:
            messages.append(ToolMessage(content, tool_call_id=f"toolu_{index}"))
    return messages


tool_lists = st.one_of(
    st.none(),
    st.lists(
        st.builds(
            lambda size, control: (
                {"name": "t", "description": long(size, "tool")}
                | ({"cache_control": control} if control else {})
            ),
            st.integers(1, 800),
            cache_controls,
        ),
        max_size=3,
    ),
)

invariant_settings = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _assert_ttl_order(found: list[Any]) -> None:
    ttls = [ttl for _, ttl in found]
    assert ttls == sorted(ttls, reverse=True)


@invariant_settings
@given(conversations(), tool_lists, st.sampled_from([300, 3600]), st.integers(0, 3))
def test_invariants_hold_on_arbitrary_conversations(
    messages: list[BaseMessage], tools: list[dict[str, Any]] | None, ttl: int, repeats: int
) -> None:
    manager = planner(cacheTTL=ttl)
    original_messages, original_tools = copy.deepcopy(messages), copy.deepcopy(tools)
    for _ in range(repeats):  # some history, so the learned branches run too
        manager.plan(messages, tools)
    planned = manager.plan(messages, tools)
    # never mutates the caller's messages, content lists or tools
    assert messages == original_messages
    assert tools == original_tools
    found = marks(planned.messages, planned.tools)
    assert len(found) <= 4
    assert planned.breakpoints == len(found)
    _assert_ttl_order(found)
    for message in planned.messages:
        blocks_ = message.content if isinstance(message.content, list) else [message.content]
        for block in blocks_:
            text = block if isinstance(block, str) else block.get("text", "")
            assert MARKER not in text
    # idempotent: planning the planned request again changes nothing
    again = manager.plan(planned.messages, planned.tools)
    assert again.messages == planned.messages
    assert again.tools == planned.tools
    # the same request made of new objects (a backend rebuilding it) is planned the same
    rebuilt = manager.plan(copy.deepcopy(messages), copy.deepcopy(tools))
    assert rebuilt.messages == planned.messages
    assert rebuilt.tools == planned.tools


@invariant_settings
@given(conversations(text_only=True))
def test_nothing_new_is_marked_below_the_minimum_cacheable_length(
    messages: list[BaseMessage],
) -> None:
    manager = planner()
    manager.add_cache_markers(messages)
    planned = manager.add_cache_markers(messages)
    running = 0
    for message in planned:
        content = message.content if isinstance(message.content, list) else [message.content]
        for block in content:
            text = block if isinstance(block, str) else block["text"]
            running += estimate_tokens(text)
            if isinstance(block, dict) and "cache_control" in block:
                assert running >= MIN_TOKENS
