"""get_generator_model: PipesHub's signature and config shape, wrapping only when enabled."""

from __future__ import annotations

import importlib.util
import json
import logging

import pytest
from langchain_anthropic import ChatAnthropic

from optimization.factory import (
    anthropic_max_tokens,
    anthropic_supports_sampling,
    base_model_kwargs,
    build_base_model,
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


def test_it_uses_pipeshubs_output_caps_and_ignores_the_entrys_temperature_and_max_tokens() -> None:
    assert anthropic_max_tokens("claude-sonnet-4-5") == 64000
    assert anthropic_max_tokens("claude-opus-4-6") == 16384
    assert anthropic_max_tokens("claude-sonnet-5") == 16384
    assert anthropic_max_tokens("claude-3-haiku") == 4096
    # PipesHub's direct anthropic path hard-codes temperature 0.2 and the Claude cap.
    config = entry(temperature=0.7, maxTokens=1000)
    assert base_model_kwargs("anthropic", config, "claude-sonnet-4-5") == (
        "anthropic",
        {
            "model": "claude-sonnet-4-5",
            "timeout": 360.0,
            "max_retries": 2,
            "api_key": "sk-test",
            "max_tokens": 64000,
            "temperature": 0.2,
        },
    )
    model = get_generator_model("anthropic", config)
    assert (model.temperature, model.max_tokens) == (0.2, 64000)
    assert get_generator_model("anthropic", entry(model="claude-opus-4-7")).temperature is None


def test_an_anthropic_entry_may_name_a_base_url_for_the_simulator() -> None:
    _, kwargs = base_model_kwargs("anthropic", entry(baseUrl="http://sim:1"), "claude-haiku-4-5")
    assert kwargs["base_url"] == "http://sim:1"
    assert "base_url" not in base_model_kwargs("anthropic", entry(), "claude-haiku-4-5")[1]


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
    assert get_generator_model("anthropic", entry(model=model, temperature=0.7)).temperature == 0.2


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
        ("vertexAI", "langchain-google-genai"),
        ("cohere", "langchain-cohere"),
        ("groq", "langchain-groq"),
        ("ollama", "langchain-ollama"),
        ("xai", "langchain-xai"),
        ("together", "langchain-openai"),
        ("fireworks", "langchain-fireworks"),
    ],
)
def test_each_provider_without_its_package_names_the_package(provider: str, package: str) -> None:
    if importlib.util.find_spec(package.replace("-", "_")) is not None:
        pytest.skip(f"{package} is installed here; this test covers its absence")
    config = entry(model="some-model", endpoint="https://example.invalid", project="p")
    config["provider"] = provider
    with pytest.raises(ImportError, match=f"needs the '{package}' package: pip install {package}"):
        get_generator_model(provider, config)


def test_azure_ai_with_a_claude_model_builds_chat_anthropic_on_the_endpoint() -> None:
    config = entry(model="claude-sonnet-4-5", endpoint="https://example.services.ai.azure.com")
    config["provider"] = "azureAI"
    model = get_generator_model("azureAI", config)
    assert type(model) is ChatAnthropic
    assert model.anthropic_api_url == "https://example.services.ai.azure.com"


def test_azure_ai_claude_takes_max_tokens_and_temperature_from_the_entry_and_default_retries() -> (
    None
):
    config = entry(endpoint="https://az", temperature=0.5, maxTokens=1000)
    assert base_model_kwargs("azureAI", config, "claude-sonnet-4-5") == (
        "anthropic",
        {
            "model": "claude-sonnet-4-5",
            "timeout": 360.0,
            "api_key": "sk-test",
            "max_tokens": 1000,
            "base_url": "https://az",
            "temperature": 0.5,
        },
    )
    _, capped = base_model_kwargs("azureAI", entry(endpoint="https://az"), "claude-opus-4-7")
    assert capped["max_tokens"] == 16384
    assert "temperature" not in capped
    assert "max_retries" not in capped  # the library default, as PipesHub


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
    assert openai == {  # OpenAI's own endpoint: PipesHub passes no base URL
        "model": "m",
        "timeout": 360.0,
        "temperature": 0.2,
        "api_key": "k",
        "stream_usage": True,
        "organization": "org-1",
    }
    assert kwargs_for("openAICompatible", endpoint="https://proxy")["base_url"] == "https://proxy"
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


# --- per-provider differences from the earlier reproduction, checked against PipesHub -------


def reasoning_entry(provider: str, model: str = "m", **configuration: object) -> dict:
    return {
        "provider": provider,
        "isReasoning": True,
        "configuration": {"model": model, "apiKey": "k", "project": "p", **configuration},
    }


REASONING_KEYS = ("reasoning", "reasoning_effort", "use_responses_api")


def responses_api(effort: str) -> dict:
    return {"reasoning": {"effort": effort}, "use_responses_api": True}


@pytest.mark.parametrize(
    ("provider", "model", "effort", "endpoint", "expected"),
    [
        # OpenAI itself (direct or on Azure) always reasons through the Responses API.
        ("openAI", "m", None, None, responses_api("high")),
        ("azureOpenAI", "m", "max", None, responses_api("xhigh")),
        # Gateways only when they front OpenAI: its host, or a gpt-5.x model name.
        ("openAICompatible", "m", None, "https://proxy", {"reasoning_effort": "high"}),
        ("openAICompatible", "m", "low", "https://api.openai.com/v1", responses_api("low")),
        ("openRouter", "openai/gpt-5.1", "medium", None, responses_api("medium")),
        ("openRouter", "openai/gpt-5-chat", "medium", None, {"reasoning_effort": "medium"}),
        ("litellmProxy", "m", "none", "https://proxy", {"reasoning_effort": "low"}),  # floored
        ("azureAI", "llama-4", "max", "https://az", {"reasoning_effort": "xhigh"}),
        ("fireworks", "m", "max", None, {"reasoning_effort": "max"}),
        ("minimax", "m", "max", None, {"reasoning_effort": "high"}),
        ("xai", "m", "max", None, {"reasoning_effort": "high"}),
        ("lmStudio", "m", "max", "http://lm", {"reasoning_effort": "high"}),
        ("gemini", "m", "max", None, {"reasoning_effort": "high"}),
        ("vertexAI", "m", None, None, {"reasoning_effort": "high"}),
        ("ollama", "m", "max", None, {"reasoning": "high"}),
        ("anthropic", "claude-sonnet-4-5", "max", None, {"reasoning_effort": "max"}),
        ("groq", "m", "high", None, {}),
        ("mistral", "m", "high", None, {}),
        ("cohere", "m", "high", None, {}),
        ("together", "m", "high", "https://t", {}),
    ],
)
def test_reasoning_entries_get_pipeshubs_reasoning_arguments(
    provider: str, model: str, effort: str | None, endpoint: str | None, expected: dict
) -> None:
    config = reasoning_entry(provider, model, endpoint=endpoint)
    _, kwargs = base_model_kwargs(provider, config, model, effort)
    got = {key: kwargs[key] for key in REASONING_KEYS if key in kwargs}
    assert got == expected


def test_entries_not_flagged_as_reasoning_get_no_reasoning_arguments() -> None:
    for provider in ("openAI", "gemini", "xai", "fireworks", "minimax", "vertexAI", "anthropic"):
        config = reasoning_entry(provider, "gpt-5")
        config["isReasoning"] = False
        _, kwargs = base_model_kwargs(provider, config, "gpt-5", "high")
        assert not set(REASONING_KEYS) & set(kwargs), provider
    assert kwargs_for("ollama")["reasoning"] is False  # off, so <think> never leaks


@pytest.mark.parametrize(
    ("provider", "model", "is_reasoning", "temperature"),
    [
        ("openAICompatible", "gpt-5-mini", False, 1),  # OpenAI's reasoning models: only 1
        ("openRouter", "openai/gpt-5.2", False, 1),
        ("openAI", "gpt-5.1-chat-latest", False, 0.7),  # the -chat variants take any value
        ("openAI", "o3", True, 1),  # OpenAI's own API: the flag is enough
        ("azureOpenAI", "dep", True, 1),
        ("openAICompatible", "deepseek-r1", True, 0.7),  # gateways: the flag is not
        ("azureAI", "llama-4", True, 0.7),
        ("lmStudio", "qwen3", True, 0.7),
        ("vertexAI", "gemini-2.5-pro", True, 0.7),
    ],
)
def test_temperature_is_one_only_for_openais_reasoning_models(
    provider: str, model: str, is_reasoning: bool, temperature: float
) -> None:
    config = reasoning_entry(provider, model, temperature=0.7, endpoint="https://e")
    config["isReasoning"] = is_reasoning
    assert base_model_kwargs(provider, config, model)[1]["temperature"] == temperature


def test_vertex_ai_builds_chat_google_generative_ai_as_pipeshub() -> None:
    config = reasoning_entry("vertexAI", serviceAccountJson="{}", temperature=0.4)
    config["isReasoning"] = False
    class_key, kwargs = base_model_kwargs("vertexAI", config, "gemini-2.5-pro")
    assert class_key == "vertexAI"
    assert kwargs == {  # credentials are an object: build_base_model adds them
        "model": "gemini-2.5-pro",
        "timeout": 360.0,
        "project": "p",
        "location": "us-central1",
        "temperature": 0.4,
        "max_tokens": 4096,
        "max_retries": 2,
    }
    config["configuration"]["location"] = "europe-west4"
    assert base_model_kwargs("vertexAI", config, "m")[1]["location"] == "europe-west4"
    del config["configuration"]["project"]
    with pytest.raises(ValueError, match="'vertexAI' configuration is missing a 'project'"):
        base_model_kwargs("vertexAI", config, "m")


def service_account_json() -> str:
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "p",
            "private_key_id": "1",
            "private_key": pem,
            "client_email": "llm@p.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


def test_vertex_ai_credentials_come_from_the_service_account_with_the_cloud_platform_scope() -> (
    None
):
    genai = pytest.importorskip("langchain_google_genai")
    config = reasoning_entry(
        "vertexAI", "gemini-2.5-pro", serviceAccountJson=service_account_json()
    )
    model = build_base_model("vertexAI", config, "gemini-2.5-pro", "max")
    assert type(model) is genai.ChatGoogleGenerativeAI
    assert model.credentials.service_account_email == "llm@p.iam.gserviceaccount.com"
    assert model.credentials.scopes == ["https://www.googleapis.com/auth/cloud-platform"]
    assert (model.project, model.location, model.max_output_tokens) == ("p", "us-central1", 4096)
    assert model.reasoning_effort == "high"
    del config["configuration"]["serviceAccountJson"]  # none: Application Default Credentials
    assert build_base_model("vertexAI", config, "gemini-2.5-pro").credentials is None


def test_together_is_chat_openai_on_the_entrys_endpoint() -> None:
    assert kwargs_for("together", endpoint="https://api.together.xyz/v1") == {
        "model": "m",
        "timeout": 360.0,
        "temperature": 0.2,
        "api_key": "k",
        "base_url": "https://api.together.xyz/v1",
    }
    openai = pytest.importorskip("langchain_openai")
    config = entry(model="meta-llama/Llama-3.3-70B", endpoint="https://api.together.xyz/v1")
    model = build_base_model("together", config, "meta-llama/Llama-3.3-70B")
    assert type(model) is openai.ChatOpenAI
    assert model.openai_api_base == "https://api.together.xyz/v1"


def test_ollama_gets_pipeshubs_timeout_sampling_and_context_window() -> None:
    config = reasoning_entry("ollama", endpoint="http://ollama:11434", temperature=0.3)
    config["contextLength"] = "32768"
    assert base_model_kwargs("ollama", config, "qwen3", "medium") == (
        "ollama",
        {
            "model": "qwen3",
            "timeout": 360.0,
            "temperature": 0.3,
            "base_url": "http://ollama:11434",
            "reasoning": "medium",
            "repeat_penalty": 1.0,
            "top_p": 1.0,
            "num_ctx": 32768,
        },
    )
    assert "num_ctx" not in kwargs_for("ollama")


def test_gemini_leaves_max_tokens_unset_as_pipeshub() -> None:
    assert kwargs_for("gemini") == {
        "model": "m",
        "timeout": 360.0,
        "temperature": 0.2,
        "max_tokens": None,
        "max_retries": 2,
        "google_api_key": "k",
    }


@pytest.mark.parametrize(
    ("configuration", "model", "family"),
    [
        ({}, "mistral.mistral-large-2407-v1:0", "mistral"),
        ({}, "us.anthropic.claude-sonnet-4-5-v1:0", "anthropic"),
        ({}, "meta.llama3-70b-instruct-v1:0", "meta"),
        ({}, "amazon.titan-text-express-v1", "amazon"),
        ({}, "cohere.command-r-v1:0", "cohere"),
        ({}, "ai21.jamba-1-5-large-v1:0", "ai21"),
        ({}, "qwen.qwen3-32b-v1:0", "qwen"),
        ({}, "deepseek.r1-v1:0", "anthropic"),  # PipesHub's fallback
        ({"provider": "meta"}, "custom-arn", "meta"),
        ({"provider": "other", "customProvider": "deepseek"}, "deepseek.r1-v1:0", "deepseek"),
        ({"provider": "other"}, "amazon.nova-pro-v1:0", "amazon"),
    ],
)
def test_bedrock_passes_the_model_family_as_pipeshub_detects_it(
    configuration: dict, model: str, family: str
) -> None:
    config = {"configuration": {"model": model, "region": "eu-west-1", **configuration}}
    class_key, kwargs = base_model_kwargs("bedrock", config, model)
    assert class_key == "bedrock"
    assert kwargs["provider"] == family
    claude_cap = {"max_tokens": anthropic_max_tokens(model)}
    assert kwargs["model_kwargs"] == (claude_cap if family == "anthropic" else {})


def test_bedrock_passes_explicit_keys_only_as_a_pair_and_builds_no_client() -> None:
    keys = {"awsAccessKeyId": " AKIA ", "awsAccessSecretKey": "secret", "region": "eu-west-1"}
    _, kwargs = base_model_kwargs("bedrock", {"configuration": keys}, "anthropic.claude-opus-4-7")
    assert kwargs == {
        "model_id": "anthropic.claude-opus-4-7",
        "region_name": "eu-west-1",
        "provider": "anthropic",
        "model_kwargs": {"max_tokens": 16384},
        "beta_use_converse_api": True,
        "aws_access_key_id": "AKIA",
        "aws_secret_access_key": "secret",
    }  # no temperature: Opus 4.7 refuses sampling parameters; no timeout, as PipesHub
    half = {"configuration": {"awsAccessKeyId": "AKIA", "awsAccessSecretKey": " "}}
    _, default_chain = base_model_kwargs("bedrock", half, "amazon.titan")
    assert "aws_access_key_id" not in default_chain  # boto3's default credential chain
    assert default_chain["temperature"] == 0.2
