"""A demo `aiconfigs` document shaped like PipesHub's: several providers, no optimizations."""

from __future__ import annotations

from typing import Any


def demo_ai_models_document() -> dict[str, Any]:
    """The demo document, as PipesHub writes it before llmopt's migration adds its fields."""
    return {
        "llm": [
            _entry(
                "anthropic",
                "claude-sonnet-5-5, claude-haiku-5-5",
                api_key="sk-ant-demo-0000-not-a-real-key",
                model_key="8b0c1f9e-demo-anthropic",
                is_default=True,
                context_length=200_000,
            ),
            _entry(
                "openAI",
                "gpt-4o-mini, gpt-4o",
                api_key="sk-demo-openai-not-a-real-key",
                model_key="5d2e7a41-demo-openai",
                context_length=128_000,
            ),
            _entry(
                "bedrock",
                "anthropic.claude-sonnet-5-5",
                api_key="",
                model_key="c71f3b20-demo-bedrock",
                context_length=200_000,
                extra={
                    "region": "us-east-1",
                    "awsAccessKeyId": "AKIADEMO",
                    "awsAccessSecretKey": "",
                },
            ),
            _entry(
                "ollama",
                "llama3.2",
                api_key="",
                model_key="e9a04c55-demo-ollama",
                context_length=128_000,
                extra={"endpoint": "http://127.0.0.1:11434"},
            ),
        ],
        "embedding": [
            {
                "provider": "default",
                "configuration": {"model": "BAAI/bge-large-en-v1.5"},
                "modelKey": "0f1e2d3c-demo-embedding",
                "isDefault": True,
            }
        ],
    }


def _entry(
    provider: str,
    models: str,
    *,
    api_key: str,
    model_key: str,
    context_length: int,
    is_default: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    configuration: dict[str, Any] = {"model": models, "apiKey": api_key, **(extra or {})}
    return {
        "provider": provider,
        "configuration": configuration,
        "modelKey": model_key,
        "isDefault": is_default,
        "isMultimodal": provider != "ollama",
        "isReasoning": False,
        "contextLength": context_length,
    }
