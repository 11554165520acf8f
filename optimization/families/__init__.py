"""The families of LangChain chat classes the wrapper optimizes, and which one a model is in.

Anthropic's (explicit cache breakpoints, Message Batches), OpenAI's and Azure OpenAI's (automatic
caching with a routing key, the Batch API) and Gemini's (implicit caching, Batch Mode). A model
of no family here is returned by `optimize` unchanged.
"""

from __future__ import annotations

from langchain_core.language_models.chat_models import BaseChatModel

from optimization.families.anthropic import AnthropicFamily
from optimization.families.base import BatchClient, ModelFamily, model_name_of
from optimization.families.gemini import GeminiFamily
from optimization.families.openai import OpenAIFamily

FAMILIES: tuple[ModelFamily, ...] = (AnthropicFamily(), OpenAIFamily(), GeminiFamily())


def family_of(model: BaseChatModel, provider: str) -> ModelFamily | None:
    """The family that optimizes `model` built for `provider`, or None."""
    for family in FAMILIES:
        if family.owns(model, provider):
            return family
    return None


__all__ = ["FAMILIES", "BatchClient", "ModelFamily", "family_of", "model_name_of"]
