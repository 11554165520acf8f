"""GeminiFamily gives the wrapper what it needs to batch a ChatGoogleGenerativeAI."""

from __future__ import annotations

from langchain_anthropic import ChatAnthropic
from langchain_core.messages import HumanMessage

from optimization.capabilities import ProviderCapabilities
from optimization.families.gemini import GeminiFamily
from optimization.gemini_batch_client import GeminiBatchClient
from tests.optimization.simulators import LiveSimulator
from tests.optimization.test_gemini_batch_client import chat

FAMILY = GeminiFamily()


def test_it_owns_chat_google_generative_ai_and_nothing_else() -> None:
    assert FAMILY.owns(chat("http://127.0.0.1:9"), "gemini")
    other = ChatAnthropic(model="claude-sonnet-4-5", api_key="k")  # type: ignore[call-arg]
    assert not FAMILY.owns(other, "anthropic")


def test_it_batches_through_gemini_batch_mode_only() -> None:
    assert FAMILY.can_batch(ProviderCapabilities.detect("gemini", "gemini-2.5-flash"))
    assert not FAMILY.can_batch(ProviderCapabilities.detect("anthropic", "claude-sonnet-4-5"))
    assert not FAMILY.marks_cache


def test_the_key_and_endpoint_are_the_models_own() -> None:
    model = chat("http://127.0.0.1:9")
    assert FAMILY.endpoint(model) == "http://127.0.0.1:9"
    assert FAMILY.client_key(model) == ("test-key", "http://127.0.0.1:9")
    assert FAMILY.client_key(chat("http://127.0.0.1:10")) != FAMILY.client_key(model)


async def test_its_requests_and_client_run_a_batch(simulator: LiveSimulator) -> None:
    model = chat(simulator.url)
    FAMILY.check_batchable(model, {"stop": ["END"]})
    requests = FAMILY.batch_requests(model, [[HumanMessage("Question 0")]], {}, None)
    client = FAMILY.batch_client(
        model, state_store=None, max_requests=10, options={"poll_initial": 0.01, "poll_max": 0.05}
    )
    assert isinstance(client, GeminiBatchClient)
    [batch] = await client.submit(requests)
    await client.poll(batch.batch_id)
    [result] = await client.collect([batch])
    assert result.succeeded
    assert result.message is not None
    assert str(result.message.content).endswith("Question 0")
    assert FAMILY.cache_request(model, [HumanMessage("x")], {}, batch=True).kwargs == {}
