"""gemini_batch_requests: each batch request is what the chat model itself sends."""

from __future__ import annotations

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import tool

from optimization.gemini_batches import gemini_batch_requests
from optimization.simulator.ledger import params_hash
from tests.optimization.simulators import LiveSimulator
from tests.optimization.test_gemini_batch_client import chat


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


CONVERSATIONS: list[list[BaseMessage]] = [
    [SystemMessage("Be brief."), HumanMessage("What is the weather in Paris?")],
    [HumanMessage("Hello"), AIMessage("Hi!"), HumanMessage("Call get_weather for Rome")],
]


def without_model(params: dict[str, object]) -> dict[str, object]:
    # generateContent names the model in its URL; an inline batch request in its body.
    return {key: value for key, value in params.items() if key != "model"}


@pytest.mark.parametrize(
    "call_kwargs",
    [{}, {"stop": ["END"]}, {"tools": "bound", "tool_choice": "get_weather"}],
    ids=["plain", "stop", "tools"],
)
def test_each_request_is_the_body_the_model_sends(
    simulator: LiveSimulator, call_kwargs: dict[str, object]
) -> None:
    model = chat(simulator.url)
    runnable = model
    if call_kwargs.get("tools") == "bound":
        bound = model.bind_tools([get_weather], tool_choice="get_weather")
        call_kwargs = dict(bound.kwargs)  # type: ignore[attr-defined]
        runnable = bound  # type: ignore[assignment]
    requests = gemini_batch_requests(model, CONVERSATIONS, call_kwargs)
    assert [request.custom_id for request in requests] == ["r0", "r1"]
    for request, conversation in zip(requests, CONVERSATIONS, strict=True):
        assert request.params["model"] == "models/gemini-2.5-flash"
        stop = call_kwargs.get("stop")
        runnable.invoke(conversation, stop=stop)  # type: ignore[arg-type]
        sent = simulator.counts().messages
        assert sent.get(params_hash(without_model(request.params))) == 1


def test_tools_and_tool_choice_reach_the_request(simulator: LiveSimulator) -> None:
    model = chat(simulator.url)
    bound = model.bind_tools([get_weather], tool_choice="get_weather")
    [request] = gemini_batch_requests(model, CONVERSATIONS[:1], bound.kwargs)  # type: ignore[attr-defined]
    params = request.params
    [declaration] = params["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "get_weather"
    assert params["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"] == ["get_weather"]
    assert params["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


def test_a_streaming_call_cannot_be_batched() -> None:
    with pytest.raises(ValueError, match="stream"):
        gemini_batch_requests(chat("http://127.0.0.1:9"), CONVERSATIONS, {"stream": True})


def test_an_argument_gemini_does_not_know_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="not_a_setting"):
        gemini_batch_requests(chat("http://127.0.0.1:9"), CONVERSATIONS, {"not_a_setting": 1})


def test_another_providers_model_is_refused() -> None:
    other = ChatAnthropic(model="claude-sonnet-4-5", api_key="k")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="ChatGoogleGenerativeAI"):
        gemini_batch_requests(other, CONVERSATIONS, {})
