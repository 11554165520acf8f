"""PipesHub's real call patterns, each run on the plain model and on the optimized one.

Read off PipesHub's backend (backend/python/app, see README "PipesHub compatibility"): its
factory `get_generator_model(provider, config, model_name=None, reasoning_effort=None)` builds
a new model for every chat request and every document, called positionally, by keyword and in
a thread; the model is then used with streaming and callbacks, bound tools with streamed
tool-call chunks, `with_structured_output(..., include_raw=True)` (and `method="json_schema"`,
`stream=True` for ChatAnthropic), `prompt | llm | parser` chains and a health check's `invoke`
in a thread; code dispatches on `isinstance`, `type(llm).__name__` and the model's fields. The
factory below is ours, built with the arguments PipesHub passes; the simulator is the provider
(it reads ANTHROPIC_BASE_URL, as a PipesHub deployment pointed at a proxy would).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_google_genai import ChatGoogleGenerativeAI
from langchain_openai import AzureChatOpenAI, ChatOpenAI

from optimization import batching, optimized_factory
from optimization.dropin import is_optimized
from optimization.recorders import InMemoryUsageRecorder, set_default_recorder
from tests.optimization.simulators import LiveSimulator

MODEL = "claude-sonnet-4-5"
STABLE = "You are PipesHub's assistant. Answer from the knowledge base.\n" + (
    "Rule: cite the source of every claim. " * 400
)
OPTIMIZED = {"optimizationEnabled": True, "cachingEnabled": True, "batchingEnabled": True}
# A 1x1 PNG, as PipesHub's multimodal health check sends.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4e70000000049454e44ae426082"
    )
).decode()


class FakeChatOllama(GenericFakeChatModel):
    """Stands for ChatOllama: PipesHub looks for that name in the model's MRO."""


FakeChatOllama.__name__ = "ChatOllama"


def pipeshub_like_factory(
    provider: str,
    config: dict[str, Any],
    model_name: str | None = None,
    reasoning_effort: str | None = None,
) -> BaseChatModel:
    """Builds what PipesHub's factory builds for these providers (our code, its arguments)."""
    configuration = config["configuration"]
    names = [name.strip() for name in str(configuration["model"]).split(",")]
    model_name = model_name or names[0]
    if provider == "anthropic":
        kwargs: dict[str, Any] = {
            "model": model_name,
            "timeout": 360.0,
            "max_retries": 2,
            "api_key": configuration["apiKey"],
            "max_tokens": 64000,
            "temperature": 0.2,
        }
        if config.get("isReasoning"):
            kwargs["reasoning_effort"] = reasoning_effort or "high"
        return ChatAnthropic(**kwargs)
    if provider == "openAI":
        return ChatOpenAI(
            model=model_name,
            temperature=1,
            timeout=360.0,
            api_key=configuration["apiKey"],
            stream_usage=True,
            reasoning={"effort": reasoning_effort or "low"},
            use_responses_api=True,
        )
    if provider == "azureOpenAI":
        return AzureChatOpenAI(
            api_key=configuration["apiKey"],
            azure_endpoint="http://127.0.0.1:9",
            api_version="2025-04-01-preview",
            temperature=0.2,
            timeout=360.0,
            azure_deployment=configuration["deploymentName"],
            stream_usage=True,
        )
    if provider == "gemini":
        return ChatGoogleGenerativeAI(
            model=model_name,
            temperature=0.2,
            max_tokens=None,
            timeout=360.0,
            max_retries=2,
            google_api_key=configuration["apiKey"],
        )
    if provider == "ollama":
        return FakeChatOllama(messages=iter([AIMessage("hi")]))
    raise ValueError(f"Unsupported provider type: {provider}")


optimized_get_generator_model = optimized_factory(pipeshub_like_factory)


# The models an entry lists, by provider (a Gemini entry lists Gemini models).
ENTRY_MODELS = {"gemini": "gemini-2.5-flash, gemini-2.5-pro"}


def entry(provider: str = "anthropic", **configuration: Any) -> dict[str, Any]:
    """One `llm` entry as PipesHub stores it in /services/aiModels."""
    return {
        "provider": provider,
        "modelKey": "0b6c0d3e-model-key",
        "isDefault": True,
        "isMultimodal": True,
        "isReasoning": False,
        "contextLength": None,
        "configuration": {
            "model": ENTRY_MODELS.get(provider, f"{MODEL}, claude-haiku-4-5"),
            "apiKey": "sk-test",
            "deploymentName": "gpt-5",
            **configuration,
        },
    }


@pytest.fixture
def provider_url(simulator: LiveSimulator, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", simulator.url)
    return simulator.url


@pytest.fixture
def recorder() -> Any:
    memory = InMemoryUsageRecorder()
    set_default_recorder(memory)
    yield memory
    set_default_recorder(None)


def both(provider: str = "anthropic", **configuration: Any) -> tuple[Any, Any]:
    """(plain, optimized) models for the same entry, as PipesHub's call sites get them."""
    plain = pipeshub_like_factory(provider, entry(provider, **configuration))
    optimized = optimized_get_generator_model(
        provider, entry(provider, **OPTIMIZED, **configuration)
    )
    return plain, optimized


# --- the factory ---------------------------------------------------------------------------

# The providers whose models optimize() optimizes (Anthropic's, OpenAI's and Gemini's families).
OPTIMIZED_FAMILIES = ("anthropic", "openAI", "azureOpenAI", "gemini")


@pytest.mark.parametrize("provider", ["anthropic", "openAI", "azureOpenAI", "gemini", "ollama"])
@pytest.mark.parametrize("switched_on", [False, True])
def test_the_decorated_factory_returns_the_object_the_factory_built_unless_it_optimizes(
    provider: str, switched_on: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    built: list[BaseChatModel] = []

    @optimized_factory
    def factory(
        provider: str, config: dict[str, Any], model_name: str | None = None
    ) -> BaseChatModel:
        built.append(pipeshub_like_factory(provider, config, model_name))
        return built[-1]

    configuration = OPTIMIZED if switched_on else {}
    model = factory(provider, entry(provider, **configuration))
    if switched_on and provider in OPTIMIZED_FAMILIES:
        assert is_optimized(model)
        assert type(model).__name__ == type(built[-1]).__name__
        assert model.model_dump() == built[-1].model_dump()
    else:
        # Providers of no model family (optimization.families) are left as built.
        assert model is built[-1]


async def test_the_factory_is_called_as_pipeshub_calls_it(provider_url: str) -> None:
    config = entry(**OPTIMIZED)
    calls = [
        optimized_get_generator_model("anthropic", config, None, "low"),
        optimized_get_generator_model(provider="anthropic", config=config, model_name=MODEL),
        await asyncio.to_thread(optimized_get_generator_model, "anthropic", config, None, None),
        await asyncio.to_thread(
            optimized_get_generator_model, provider="anthropic", config=config, model_name=MODEL
        ),
    ]
    assert all(is_optimized(model) and model.model == MODEL for model in calls)
    haiku = optimized_get_generator_model("anthropic", config, "claude-haiku-4-5")
    assert haiku.model == "claude-haiku-4-5"


async def test_an_async_factory_is_decorated_the_same_way(provider_url: str) -> None:
    @optimized_factory
    async def get_llm(provider: str, config: dict[str, Any]) -> BaseChatModel:
        return pipeshub_like_factory(provider, config)

    assert is_optimized(await get_llm("anthropic", entry(**OPTIMIZED)))
    assert not is_optimized(await get_llm("anthropic", entry()))


def test_the_factorys_own_errors_are_unchanged() -> None:
    with pytest.raises(ValueError, match="Unsupported provider type: nope"):
        optimized_get_generator_model("nope", entry("nope", **OPTIMIZED))


# --- what PipesHub reads and checks on the model ---------------------------------------------


def test_every_class_check_and_field_read_takes_the_plain_models_branch(provider_url: str) -> None:
    structured_classes = (ChatGoogleGenerativeAI, ChatAnthropic, ChatOpenAI, AzureChatOpenAI)
    plain, optimized = both()
    reasoning_entry = {**entry(**OPTIMIZED), "isReasoning": True}
    for llm, reference in (
        (optimized, plain),
        (
            optimized_get_generator_model("anthropic", reasoning_entry, None, "medium"),
            pipeshub_like_factory("anthropic", {**entry(), "isReasoning": True}, None, "medium"),
        ),
    ):
        assert is_optimized(llm)
        assert isinstance(llm, structured_classes) == isinstance(reference, structured_classes)
        assert isinstance(llm, ChatAnthropic)
        assert type(llm).__name__ == type(reference).__name__ == "ChatAnthropic"
        assert any(cls.__name__ == "ChatOllama" for cls in type(llm).__mro__) is False
        assert hasattr(llm, "use_responses_api") == hasattr(reference, "use_responses_api")
        for field in (
            "model",
            "max_tokens",
            "temperature",
            "max_retries",
            "default_request_timeout",
            "thinking",
            "reasoning_effort",
            "anthropic_api_key",
        ):
            assert getattr(llm, field) == getattr(reference, field), field
        probe = [HumanMessage("x")]
        assert llm._get_request_payload(probe, stop=None).get("thinking") == (
            reference._get_request_payload(probe, stop=None).get("thinking")
        )
        assert llm.get_name() == reference.get_name()
        copy = llm.model_copy(update={"max_tokens": 1024})
        assert is_optimized(copy)
        assert copy.max_tokens == 1024


# --- calls, plain and optimized side by side -------------------------------------------------


class Recording(AsyncCallbackHandler):
    """What PipesHub's tracer sees: starts, streamed tokens, ends."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.tokens: list[str] = []

    async def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.events.append("start")

    async def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    async def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
        self.events.append("end")


async def stream_text(llm: Any, messages: list[Any], handler: Recording) -> str:
    chunks = [chunk async for chunk in llm.astream(messages, config={"callbacks": [handler]})]
    return "".join(str(chunk.content) for chunk in chunks)


async def test_streaming_with_callbacks_behaves_the_same(
    provider_url: str, recorder: InMemoryUsageRecorder
) -> None:
    plain, optimized = both()
    messages = [SystemMessage(STABLE), HumanMessage("What is our leave policy?")]
    plain_handler, optimized_handler = Recording(), Recording()
    plain_text = await stream_text(plain, messages, plain_handler)
    optimized_text = await stream_text(optimized, messages, optimized_handler)
    assert optimized_text == plain_text
    assert optimized_handler.events == plain_handler.events == ["start", "end"]
    assert "".join(optimized_handler.tokens) == "".join(plain_handler.tokens)
    assert [event.mode for event in recorder.events] == ["cached"]


def search_knowledge_base(query: str) -> str:
    """Search the knowledge base."""
    return query


async def test_tool_calls_stream_as_chunks_that_add_up_to_the_same_calls(
    provider_url: str,
) -> None:
    plain, optimized = both()
    messages = [SystemMessage(STABLE), HumanMessage("Use search_knowledge_base for leave.")]
    results = []
    for llm in (plain, optimized):
        bound = llm.bind_tools([search_knowledge_base])
        total: AIMessageChunk | None = None
        async for chunk in bound.astream(messages):
            assert isinstance(chunk, AIMessageChunk)
            total = chunk if total is None else total + chunk
        assert total is not None
        assert total.tool_call_chunks
        results.append([(call["name"], call["args"]) for call in total.tool_calls])
    assert results[0] == results[1]
    assert results[0][0][0] == "search_knowledge_base"


async def test_a_tool_result_with_an_image_is_sent_and_answered_the_same(
    provider_url: str,
) -> None:
    plain, optimized = both()
    call = {"name": "search_knowledge_base", "args": {"query": "logo"}, "id": "toolu_01"}
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    messages = [
        SystemMessage(STABLE),
        HumanMessage([{"type": "text", "text": "Find the logo"}, image]),
        AIMessage("", tool_calls=[call]),
        ToolMessage([{"type": "text", "text": "found it"}, image], tool_call_id="toolu_01"),
    ]
    replies = [
        await llm.bind_tools([search_knowledge_base]).ainvoke(messages)
        for llm in (plain, optimized)
    ]
    assert replies[0].content == replies[1].content


STRUCTURED = {
    "title": "DocumentClassification",
    "description": "What a document is about.",
    "type": "object",
    "properties": {"department": {"type": "string"}, "pages": {"type": "integer"}},
    "required": ["department", "pages"],
}


async def test_structured_output_with_include_raw_behaves_the_same(
    provider_url: str, recorder: InMemoryUsageRecorder
) -> None:
    plain, optimized = both()
    messages = [HumanMessage("Classify this document about payroll")]
    outcomes = []
    for llm in (plain, optimized):
        for kwargs in ({}, {"method": "json_schema", "stream": True}):
            result = await llm.with_structured_output(
                STRUCTURED, include_raw=True, **kwargs
            ).ainvoke(messages)
            assert set(result) == {"raw", "parsed", "parsing_error"}
            assert result["parsing_error"] is None
            assert result["raw"].usage_metadata["input_tokens"] > 0
            outcomes.append(result["parsed"])
    assert outcomes[:2] == outcomes[2:]
    assert len(recorder.events) == 2  # the optimized model's two calls


async def test_a_prompt_llm_parser_chain_gives_the_same_text(provider_url: str) -> None:
    plain, optimized = both()
    prompt = ChatPromptTemplate.from_messages(
        [("system", STABLE), ("human", "Rewrite this query: {query}")]
    )
    answers = [
        await (prompt | llm | StrOutputParser()).ainvoke({"query": "leave policy"})
        for llm in (plain, optimized)
    ]
    assert answers[0] == answers[1]
    assert answers[0].startswith("echo:")


async def test_health_checks_invoke_in_a_thread_with_text_and_an_image(provider_url: str) -> None:
    plain, optimized = both()
    image = [
        HumanMessage([{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}])
    ]
    for prompt in ("Test message to verify LLM health.", image):
        replies = [
            await asyncio.wait_for(asyncio.to_thread(llm.invoke, prompt), 120)
            for llm in (plain, optimized)
        ]
        assert replies[0].content == replies[1].content
    assert isinstance(await optimized.ainvoke("Test message to verify LLM health."), AIMessage)


# --- caching in PipesHub's call shape --------------------------------------------------------


async def test_a_new_model_per_request_reads_the_static_prefix_from_the_second_request(
    provider_url: str, recorder: InMemoryUsageRecorder
) -> None:
    reads = []
    for question in ("What is the leave policy?", "Who approves expenses?", "Where is HR?"):
        llm = optimized_get_generator_model("anthropic", entry(**OPTIMIZED))  # per request
        reply = await llm.ainvoke([SystemMessage(STABLE), HumanMessage(question)])
        reads.append(reply.usage_metadata["input_token_details"].get("cache_read", 0))
    assert reads[0] == 0
    assert reads[1] > 0
    assert reads[2] > 0
    assert recorder.events[1].cost < recorder.events[1].baseline_cost


def agent_system_prompt(turn: int) -> str:
    """PipesHub's agent prompt: the stable bands, a blank line, then the volatile band."""
    return f"{STABLE}\n\n**Current time**: 2026-11-30T10:{turn:02d}:00Z\nTurn context {turn}."


async def test_an_agent_system_string_with_a_changing_end_is_read_from_its_stable_start(
    provider_url: str, recorder: InMemoryUsageRecorder
) -> None:
    sent: list[Any] = []
    reads = []
    history: list[Any] = [HumanMessage("Summarise our travel policy")]
    for turn in range(4):
        llm = optimized_get_generator_model("anthropic", entry(**OPTIMIZED))
        messages = [SystemMessage(agent_system_prompt(turn)), *history]
        sent.append(llm.llmopt.cache_manager.plan(messages).messages[0])
        reply = await llm.bind_tools([search_knowledge_base]).ainvoke(messages)
        reads.append(reply.usage_metadata["input_token_details"].get("cache_read", 0))
        history += [reply, HumanMessage(f"And follow-up {turn}?")]
    # From the second turn on the system string goes out as two blocks, the stable one marked,
    # and joined they are the very text the agent built.
    for turn, system in enumerate(sent[1:], start=1):
        assert isinstance(system.content, list)
        stable, volatile = system.content
        assert stable["cache_control"] == {"type": "ephemeral"}
        assert "cache_control" not in volatile
        assert stable["text"] + volatile["text"] == agent_system_prompt(turn)
        assert stable["text"] == STABLE + "\n\n"
    assert reads[2] >= len(STABLE) // 8  # the stable start is read once it was written
    assert reads[3] > 0


# --- batching from PipesHub's bulk work ------------------------------------------------------


async def test_extraction_over_many_documents_inside_batching_goes_out_as_one_batch(
    provider_url: str, simulator: LiveSimulator, recorder: InMemoryUsageRecorder
) -> None:
    config = entry(**OPTIMIZED, batchTimeout=0.3)

    async def classify(document: str) -> Any:
        # PipesHub's extraction: a new model per document, structured output, one ainvoke
        llm = optimized_get_generator_model("anthropic", config)
        llm.llmopt.batch_client_options.update(poll_initial=0.05, poll_max=0.2)
        structured = llm.with_structured_output(STRUCTURED, method="json_schema", stream=True)
        return await structured.ainvoke([HumanMessage(f"Classify {document}")])

    async with batching():
        results = await asyncio.gather(*(classify(f"document {i}") for i in range(5)))
    assert all(set(result) == {"department", "pages"} for result in results)
    assert len(simulator.batch_ids()) == 1
    assert [event.mode for event in recorder.events] == ["batch+cache"] * 5
    # a chat request meanwhile never waits for a batch
    chat = optimized_get_generator_model("anthropic", config)
    reply = await asyncio.wait_for(chat.ainvoke("Hello"), 30)
    assert "batch_id" not in reply.response_metadata
    assert json.dumps(results[0])
