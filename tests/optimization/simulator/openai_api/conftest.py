"""Fixtures: the official `openai` SDK clients pointed at the frozen-clock simulator."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

AZURE_VERSION = "2024-10-21"


@pytest.fixture
def openai_client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def azure_client(base_url: str) -> Iterator[openai.AzureOpenAI]:
    with openai.AzureOpenAI(
        azure_endpoint=base_url, api_key="azure-key", api_version=AZURE_VERSION, max_retries=0
    ) as sdk:
        yield sdk
