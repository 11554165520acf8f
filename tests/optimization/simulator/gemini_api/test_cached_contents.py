"""Explicit context caching: cachedContents create, use, list, patch (ttl), delete, expiry."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors, types

from optimization.simulator import Clock
from tests.optimization.simulator.gemini_api.conftest import GEMINI, LONG


def create(gclient: genai.Client, ttl: str = "300s") -> types.CachedContent:
    return gclient.caches.create(
        model=GEMINI,
        config=types.CreateCachedContentConfig(
            display_name="manual",
            system_instruction=LONG,
            contents=[types.Content(role="user", parts=[types.Part(text="the shared context")])],
            ttl=ttl,
        ),
    )


def test_a_request_on_a_cache_reads_all_of_it(gclient: genai.Client, clock: Clock) -> None:
    cache = create(gclient)
    assert cache.name
    assert cache.name.startswith("cachedContents/")
    assert cache.usage_metadata
    assert cache.usage_metadata.total_token_count
    assert cache.expire_time
    assert cache.create_time
    assert (cache.expire_time - cache.create_time).total_seconds() == 300
    answer = gclient.models.generate_content(
        model=GEMINI, contents="question", config={"cached_content": cache.name}
    )
    usage = answer.usage_metadata
    assert usage is not None
    assert usage.cached_content_token_count == cache.usage_metadata.total_token_count
    assert usage.prompt_token_count == cache.usage_metadata.total_token_count + 2


def test_an_entry_expires_on_the_simulator_clock_and_a_patch_extends_it(
    gclient: genai.Client, clock: Clock
) -> None:
    cache = create(gclient, ttl="60s")
    assert cache.name
    clock.advance(50)
    patched = gclient.caches.update(name=cache.name, config={"ttl": "600s"})
    assert patched.expire_time
    assert cache.expire_time
    assert (patched.expire_time - cache.expire_time).total_seconds() == 590
    clock.advance(500)
    assert gclient.caches.get(name=cache.name).name == cache.name
    clock.advance(101)
    with pytest.raises(errors.ClientError) as gone:
        gclient.caches.get(name=cache.name)
    assert gone.value.code == 404
    with pytest.raises(errors.ClientError) as unusable:
        gclient.models.generate_content(
            model=GEMINI, contents="q", config={"cached_content": cache.name}
        )
    assert unusable.value.code == 404


def test_entries_are_listed_until_deleted(gclient: genai.Client) -> None:
    first, second = create(gclient), create(gclient)
    assert [entry.name for entry in gclient.caches.list()] == [first.name, second.name]
    assert first.name
    gclient.caches.delete(name=first.name)
    assert [entry.name for entry in gclient.caches.list()] == [second.name]
    with pytest.raises(errors.ClientError):
        gclient.caches.delete(name=first.name)


def test_a_prefix_below_the_minimum_is_refused(gclient: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as refused:
        gclient.caches.create(
            model=GEMINI, config=types.CreateCachedContentConfig(system_instruction="short")
        )
    assert refused.value.code == 400
    assert "too small" in (refused.value.message or "")


def test_a_request_on_a_cache_may_not_set_its_own_system_instruction(
    gclient: genai.Client,
) -> None:
    cache = create(gclient)
    with pytest.raises(errors.ClientError) as refused:
        gclient.models.generate_content(
            model=GEMINI,
            contents="q",
            config={"cached_content": cache.name, "system_instruction": "other"},
        )
    assert refused.value.status == "INVALID_ARGUMENT"


def test_a_cache_is_for_its_own_model_only(gclient: genai.Client) -> None:
    cache = create(gclient)
    with pytest.raises(errors.ClientError) as refused:
        gclient.models.generate_content(
            model="gemini-2.5-pro", contents="q", config={"cached_content": cache.name}
        )
    assert "has to be the same" in (refused.value.message or "")
