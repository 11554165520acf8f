"""LangChain's own standard unit tests for chat models, run on an optimized ChatAnthropic.

The suite builds the model class from ChatAnthropic-style params (`model`, `api_key`,
`temperature`, `max_tokens`, `stop`, `timeout`, `max_retries`, `streaming`), so the class under
test is what `optimize` makes of a ChatAnthropic (the optimizing mixin over ChatAnthropic),
pointed at the simulator, with caching and batching switched on.

The standard unit tests make no network calls; the simulator URL is fixed (the simulator's
default port) because `test_serdes` compares the serialized model with a stored snapshot. The
last test here does call a live simulator, which also shows that pytest-socket (installed with
langchain-tests) blocks nothing unless asked to with `--disable-socket`.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage
from langchain_tests.unit_tests import ChatModelUnitTests

from optimization.dropin import optimize
from optimization.wrapper import OptimizedLLMWrapper

SIMULATOR_URL = "http://127.0.0.1:8089"
CONFIGURATION = {"optimizationEnabled": True, "cachingEnabled": True, "batchingEnabled": True}


class SimulatedOptimizedChatAnthropic(OptimizedLLMWrapper, ChatAnthropic):
    """What `optimize` makes of a ChatAnthropic, constructible from ChatAnthropic's params."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("model", "claude-sonnet-4-5")
        kwargs.setdefault("base_url", SIMULATOR_URL)
        super().__init__(**kwargs)
        optimized = optimize(ChatAnthropic(**kwargs), "anthropic", CONFIGURATION)
        assert isinstance(optimized, OptimizedLLMWrapper)
        self._llmopt = optimized.llmopt


class TestOptimizedLLMWrapperStandard(ChatModelUnitTests):
    """langchain-tests' ChatModelUnitTests for the wrapper."""

    @property
    def chat_model_class(self) -> type[SimulatedOptimizedChatAnthropic]:
        return SimulatedOptimizedChatAnthropic

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "claude-sonnet-4-5"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"ANTHROPIC_API_KEY": "sk-from-env"},
            {"model": "claude-sonnet-4-5"},
            {"anthropic_api_key": "sk-from-env"},
        )

    @pytest.mark.xfail(
        strict=True,
        raises=ValueError,
        reason=(
            "the dump matches the stored snapshot, but langchain_core.load admits only classes "
            "in LangChain's serializable mapping, and this test-only class has a name of its "
            "own; the class optimize() builds is named ChatAnthropic and serializes as the "
            "plain ChatAnthropic (test_wrapper.py, "
            "test_langchain_serialization_writes_the_plain_class_with_the_key_as_a_secret_reference)"
        ),
    )
    def test_serdes(self, model: Any, snapshot: Any) -> None:
        super().test_serdes(model, snapshot)


def test_the_class_under_test_talks_to_a_live_simulator(simulator_url: str) -> None:
    model = SimulatedOptimizedChatAnthropic(api_key="sk-test", base_url=simulator_url)
    assert model.llmopt.caching
    assert model.llmopt.batching
    reply = model.invoke("Hello")
    assert isinstance(reply, AIMessage)
    assert reply.usage_metadata is not None
