"""Fixtures: a frozen-clock simulator on 127.0.0.1 and google-genai clients pointed at it."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import types

from optimization.simulator import SimulatorSettings

GEMINI = "gemini-2.5-flash"  # implicit caching from 2,048 tokens
LONG = "the quick brown fox jumps over the lazy dog " * 240  # ~2,600 tokens


def genai_client(base_url: str, key: str = "test-key") -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=base_url))


@pytest.fixture
def settings() -> SimulatorSettings:
    return SimulatorSettings(batch_start_delay=1.0, batch_seconds_per_request=1.0)


@pytest.fixture
def gclient(base_url: str) -> genai.Client:
    return genai_client(base_url)
