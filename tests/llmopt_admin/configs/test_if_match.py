"""`If-Match` on PATCH /api/config/ai-models uses strong comparison (RFC 9110 §13.1.1): the
opaque tags must be identical, and a weak tag never matches."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from llmopt_admin.configs.stores import EmbeddedConfigStore
from optimization.stores.base import AI_MODELS_KEY, StoredDocument

pytestmark = pytest.mark.django_db

URL = "/api/config/ai-models"
CHANGE = json.dumps({"llm": {"0": {"cachingEnabled": True}}})


def patch(token: str, if_match: str):
    return Client().patch(
        URL,
        CHANGE,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_IF_MATCH=if_match,
    )


def caching(store: EmbeddedConfigStore) -> bool:
    return store.read(AI_MODELS_KEY).body["llm"][0]["configuration"]["cachingEnabled"]


def test_the_exact_etag_matches(staff_token: str, store, ai_models: StoredDocument) -> None:
    response = patch(staff_token, f'"{ai_models.revision}"')

    assert response.status_code == 200
    assert caching(store) is True


@pytest.mark.parametrize("template", ['W/"{}"', ' W/"{}" ', 'W/"{}", W/"{}"'])
def test_a_weak_etag_never_matches_even_for_the_current_revision(
    staff_token: str, store, ai_models: StoredDocument, template: str
) -> None:
    response = patch(staff_token, template.replace("{}", ai_models.revision))

    assert response.status_code == 412
    assert "weak" in response.json()["errors"]["If-Match"]
    assert caching(store) is False
    assert store.read(AI_MODELS_KEY).revision == ai_models.revision


@pytest.mark.parametrize("template", ['"{}x"', '"x{}"', '"0{}"', '"{},"'])
def test_a_tag_that_is_not_exactly_the_current_one_is_stale(
    staff_token: str, store, ai_models: StoredDocument, template: str
) -> None:
    response = patch(staff_token, template.replace("{}", ai_models.revision))

    assert response.status_code == 412
    assert caching(store) is False


@pytest.mark.parametrize(
    "template",
    ["{}", '"{}', '{}"', "'{}'", '"{}"garbage', '""{}""', 'w/"{}"', '"{} "', '"{}", *', "W/{}"],
)
def test_a_value_that_is_not_an_entity_tag_is_refused_naming_the_header(
    staff_token: str, store, ai_models: StoredDocument, template: str
) -> None:
    response = patch(staff_token, template.replace("{}", ai_models.revision))

    assert response.status_code == 400
    assert "If-Match" in response.json()["errors"]
    assert caching(store) is False


def test_a_list_of_tags_matches_when_one_of_them_is_the_current_one(
    staff_token: str, store, ai_models: StoredDocument
) -> None:
    response = patch(staff_token, f', "9999", W/"{ai_models.revision}",, "{ai_models.revision}"')

    assert response.status_code == 200
    assert caching(store) is True


def test_a_list_of_only_weak_or_stale_tags_does_not_match(
    staff_token: str, store, ai_models: StoredDocument
) -> None:
    response = patch(staff_token, f'"9999", W/"{ai_models.revision}"')

    assert response.status_code == 412
    assert caching(store) is False
