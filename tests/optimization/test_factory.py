"""get_generator_model: PipesHub's signature and config shape, wrapping only when enabled."""

from __future__ import annotations

import importlib.util
import logging

import pytest
from langchain_anthropic import ChatAnthropic

from optimization.factory import (
    anthropic_max_tokens,
    anthropic_supports_sampling,
    base_model_kwargs,
    get_generator_model,
)
from optimization.wrapper import OptimizedLLMWrapper


def entry(model: str = "claude-sonnet-4-5, claude-haiku-4-5", **extra: object) -> dict:
    return {
        "provider": "anthropic",
        "isDefault": False,
        "configuration": {"model": model, "apiKey": "sk-test", **extra},
    }


def test_get_generator_model_with_optimization_disabled_returns_the_base_model() -> None:
    model = get_generator_model("anthropic", entry())
    assert type(model) is ChatAnthropic
    assert model.model == "claude-sonnet-4-5"  # the first configured name is the default


def test_get_generator_model_with_optimization_enabled_wraps_the_model() -> None:
    model = get_generator_model("anthropic", entry(optimizationEnabled=True, cachingEnabled=True))
    assert isinstance(model, OptimizedLLMWrapper)
    assert isinstance(model, ChatAnthropic)
    assert model.llmopt.caching


def test_a_model_outside_the_list_of_a_non_default_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="claude-opus-4-1 not found"):
        get_generator_model("anthropic", entry(), model_name="claude-opus-4-1")


def test_the_default_entry_accepts_any_requested_model() -> None:
    config = entry()
    config["isDefault"] = True
    assert get_generator_model("anthropic", config, model_name="claude-opus-4-1").model == (
        "claude-opus-4-1"
    )


def test_a_missing_model_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="missing a 'model'"):
        get_generator_model("anthropic", entry(model=""))


def test_it_uses_pipeshubs_output_caps_and_optional_temperature_and_max_tokens() -> None:
    assert anthropic_max_tokens("claude-sonnet-4-5") == 64000
    assert anthropic_max_tokens("claude-opus-4-6") == 16384
    assert anthropic_max_tokens("claude-sonnet-5") == 16384
    assert anthropic_max_tokens("claude-3-haiku") == 4096
    model = get_generator_model("anthropic", entry(temperature=0.7, maxTokens=1000))
    assert model.temperature == 0.7
    assert model.max_tokens == 1000
    assert get_generator_model("anthropic", entry(model="claude-opus-4-7")).temperature is None


@pytest.mark.parametrize(
    "model",
    [
        "claude-sonnet-5-5",
        "anthropic.claude-sonnet-5-5",
        "claude-haiku-5-5",
        "claude-opus-5-5",
        "claude-fable-5-1",
        "claude-fable-5-2",
        "claude-mythos-5-2",
        "claude-mythos-preview",
        "claude-opus-4-8",
    ],
)
def test_current_claude_models_get_the_modern_cap_and_no_sampling_parameters(model: str) -> None:
    assert anthropic_max_tokens(model) == 16384
    assert not anthropic_supports_sampling(model)
    built = get_generator_model("anthropic", entry(model=model, temperature=0.7))
    assert built.temperature is None
    assert built.max_tokens == 16384


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-6"])
def test_older_claude_models_keep_their_sampling_parameters(model: str) -> None:
    assert anthropic_supports_sampling(model)
    assert get_generator_model("anthropic", entry(model=model, temperature=0.7)).temperature == 0.7


def test_the_base_url_comes_from_the_environment_so_the_simulator_can_stand_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:8089")
    model = get_generator_model("anthropic", entry())
    assert model.anthropic_api_url == "http://127.0.0.1:8089"


def test_a_provider_without_its_package_names_the_package_to_install() -> None:
    config = entry(model="mistral-large-latest")
    with pytest.raises(ImportError, match="langchain-mistralai"):
        get_generator_model("mistral", config)


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="Unsupported provider"):
        get_generator_model("nope", entry())


def test_a_broken_optimization_config_logs_and_returns_the_base_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = entry(optimizationEnabled=True, batchingEnabled=True, batchMaxSize="lots")
    with caplog.at_level(logging.WARNING):
        model = get_generator_model("anthropic", config)
    # tolerant parsing: the bad field falls back to its default and is reported
    assert isinstance(model, OptimizedLLMWrapper)
    assert "batchMaxSize" in caplog.text
    assert "sk-test" not in caplog.text


@pytest.mark.parametrize(
    ("provider", "package"),
    [
        ("openAI", "langchain-openai"),
        ("openAICompatible", "langchain-openai"),
        ("azureOpenAI", "langchain-openai"),
        ("openRouter", "langchain-openai"),
        ("bedrock", "langchain-aws"),
        ("gemini", "langchain-google-genai"),
        ("vertexAI", "langchain-google-vertexai"),
        ("cohere", "langchain-cohere"),
        ("groq", "langchain-groq"),
        ("ollama", "langchain-ollama"),
        ("xai", "langchain-xai"),
        ("together", "langchain-together"),
        ("fireworks", "langchain-fireworks"),
    ],
)
def test_each_provider_without_its_package_names_the_package(provider: str, package: str) -> None:
    if importlib.util.find_spec(package.replace("-", "_")) is not None:
        pytest.skip(f"{package} is installed here; this test covers its absence")
    config = entry(model="some-model", endpoint="https://example.invalid")
    config["provider"] = provider
    with pytest.raises(ImportError, match=f"needs the '{package}' package: pip install {package}"):
        get_generator_model(provider, config)


def test_azure_ai_with_a_claude_model_builds_chat_anthropic_on_the_endpoint() -> None:
    config = entry(model="claude-sonnet-4-5", endpoint="https://example.services.ai.azure.com")
    config["provider"] = "azureAI"
    model = get_generator_model("azureAI", config)
    assert type(model) is ChatAnthropic
    assert model.anthropic_api_url == "https://example.services.ai.azure.com"


def test_a_reasoning_entry_asks_for_high_effort_unless_told_otherwise() -> None:
    config = entry()
    config["isReasoning"] = True
    assert get_generator_model("anthropic", config).reasoning_effort == "high"
    low = get_generator_model("anthropic", config, reasoning_effort="low")
    assert low.reasoning_effort == "low"
    assert (
        get_generator_model("anthropic", config, reasoning_effort="odd").reasoning_effort == "low"
    )


def kwargs_for(provider: str, is_reasoning: bool = False, **configuration: object) -> dict:
    config = {
        "provider": provider,
        "isReasoning": is_reasoning,
        "configuration": {"model": "m", "apiKey": "k", **configuration},
    }
    class_key, kwargs = base_model_kwargs(provider, config, "m")
    assert class_key == provider
    return kwargs


def test_openai_style_providers_get_pipeshubs_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    openai = kwargs_for("openAI", endpoint="https://proxy", organizationId="org-1")
    assert openai == {
        "model": "m",
        "timeout": 360.0,
        "temperature": 0.2,
        "api_key": "k",
        "base_url": "https://proxy",
        "stream_usage": True,
        "organization": "org-1",
    }
    assert kwargs_for("openAI", is_reasoning=True)["temperature"] == 1
    assert kwargs_for("openRouter")["base_url"] == "https://openrouter.ai/api/v1"
    assert kwargs_for("lmStudio", apiKey="")["api_key"] == "lm-studio"
    assert "organization" not in kwargs_for("litellmProxy")
    assert kwargs_for("minimax", temperature=5)["temperature"] == 1.0
    assert kwargs_for("minimax", temperature=0)["temperature"] == 0.01


def test_the_other_providers_get_pipeshubs_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    azure = kwargs_for("azureOpenAI", endpoint="https://az", deploymentName="dep")
    assert azure["azure_endpoint"] == "https://az"
    assert azure["azure_deployment"] == "dep"
    assert azure["api_version"] == "2025-04-01-preview"
    bedrock_config = {"configuration": {"model": "x", "region": "eu-west-1"}}
    _, claude = base_model_kwargs("bedrock", bedrock_config, "anthropic.claude-sonnet-4-5")
    assert claude["model_kwargs"] == {"max_tokens": 64000}
    assert claude["region_name"] == "eu-west-1"
    _, titan = base_model_kwargs("bedrock", bedrock_config, "amazon.titan")
    assert titan["model_kwargs"] == {}
    assert kwargs_for("gemini")["google_api_key"] == "k"
    assert kwargs_for("cohere")["cohere_api_key"] == "k"
    monkeypatch.setenv("OLLAMA_API_URL", "http://ollama:11434")
    assert kwargs_for("ollama")["base_url"] == "http://ollama:11434"
    assert kwargs_for("ollama", endpoint="http://other")["base_url"] == "http://other"
    assert kwargs_for("together", endpoint="https://t")["base_url"] == "https://t"
    with pytest.raises(ValueError, match="'together' configuration is missing an 'endpoint'"):
        kwargs_for("together")
    assert kwargs_for("groq")["api_key"] == "k"
    with pytest.raises(ValueError, match="Unsupported provider type: nope"):
        base_model_kwargs("nope", {"configuration": {}}, "m")
