from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from llmopt_admin.accounts.services import api_token_create
from llmopt_admin.configs.models import AuditEntry
from llmopt_admin.configs.stores import EmbeddedConfigStore
from optimization.stores.base import AI_MODELS_KEY, StoredDocument
from tests.llmopt_admin.conftest import ANTHROPIC_KEY, OPENAI_KEY

pytestmark = pytest.mark.django_db

URL = "/api/config/ai-models"


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def patch(
    body: Any,
    token: str,
    if_match: str | None = None,
    *,
    raw: bool = False,
    client: Client | None = None,
):
    headers = bearer(token) | ({"HTTP_IF_MATCH": if_match} if if_match is not None else {})
    data = body if raw else json.dumps(body)
    return (client or Client()).patch(URL, data, content_type="application/json", **headers)


def stored(store: EmbeddedConfigStore, index: int) -> dict:
    return store.read(AI_MODELS_KEY).body["llm"][index]["configuration"]


def assert_no_secret(response) -> None:
    text = response.content.decode()
    assert ANTHROPIC_KEY not in text
    assert OPENAI_KEY not in text


# --- reading -----------------------------------------------------------------------------


def test_get_returns_the_document_with_the_api_keys_masked_and_an_etag(
    staff_token: str, ai_models: StoredDocument
) -> None:
    response = Client().get(URL, **bearer(staff_token))

    body = response.json()
    assert response.status_code == 200
    assert response["ETag"] == f'"{ai_models.revision}"'
    assert body["llm"][0]["configuration"]["optimizationEnabled"] is True
    assert body["llm"][0]["configuration"]["apiKey"] == "********"
    assert body["llm"][0]["configuration"]["customHeader"] == "kept-as-is"
    assert body["embedding"] == ai_models.body["embedding"]
    assert_no_secret(response)


def test_get_says_when_there_is_no_document(staff_token: str, store: EmbeddedConfigStore) -> None:
    response = Client().get(URL, **bearer(staff_token))

    assert response.status_code == 404
    assert "ai_models_config" in response.json()["errors"]["document"]


# --- authentication and permissions ------------------------------------------------------


def test_no_credentials_is_401(ai_models: StoredDocument) -> None:
    assert Client().get(URL).status_code == 401
    assert Client().patch(URL, "{}", content_type="application/json").status_code == 401


def test_an_unknown_token_is_401(ai_models: StoredDocument) -> None:
    assert Client().get(URL, **bearer("llmopt_not-a-token")).status_code == 401


def test_a_token_without_the_read_or_admin_scope_is_403(
    outsider_token: str, ai_models: StoredDocument
) -> None:
    response = Client().get(URL, **bearer(outsider_token))  # an ingest-only token

    assert response.status_code == 403
    assert response.json()["missing_scope"] == "read"
    assert patch({"llm": {"0": {"cachingEnabled": True}}}, outsider_token, '"1"').status_code == 403


def test_a_read_token_reads_but_only_an_admin_token_changes(
    outsider: Any, ai_models: StoredDocument
) -> None:
    reader = api_token_create(user=outsider, name="reader", scopes=["read"])[1]
    admin = api_token_create(user=outsider, name="operator", scopes=["admin"])[1]
    assert Client().get(URL, **bearer(reader)).status_code == 200
    assert patch({"llm": {"0": {"cachingEnabled": True}}}, reader, '"1"').status_code == 403
    assert patch({"llm": {"0": {"cachingEnabled": True}}}, admin, '"1"').status_code == 200


def test_a_non_staff_session_is_401(outsider_client: Client, ai_models: StoredDocument) -> None:
    assert outsider_client.get(URL).status_code == 401


def test_a_staff_session_reads_without_a_token(
    staff_client: Client, ai_models: StoredDocument
) -> None:
    assert staff_client.get(URL).status_code == 200


def test_a_staff_session_must_send_the_csrf_token_to_patch(
    staff_user, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    client.get("/config/")  # sets the CSRF cookie, as the page does for htmx
    body = json.dumps({"llm": {"0": {"cachingEnabled": True}}})
    headers = {"HTTP_IF_MATCH": f'"{ai_models.revision}"'}

    refused = client.patch(URL, body, content_type="application/json", **headers)
    token = client.cookies["csrftoken"].value
    accepted = client.patch(
        URL, body, content_type="application/json", HTTP_X_CSRFTOKEN=token, **headers
    )

    assert refused.status_code == 403
    assert accepted.status_code == 200
    assert stored(store, 0)["cachingEnabled"] is True


# --- changing -----------------------------------------------------------------------------


def test_patch_changes_optimization_fields_and_returns_the_new_document_and_etag(
    staff_token: str, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    response = patch(
        {"llm": {"0": {"cachingEnabled": True, "cacheTTL": "1h"}, "1": {"batchMaxSize": 200}}},
        staff_token,
        f'"{ai_models.revision}"',
    )

    current = store.read(AI_MODELS_KEY)
    assert response.status_code == 200
    assert response["ETag"] == f'"{current.revision}"'
    assert response.json()["llm"][0]["configuration"]["cacheTTL"] == 3600
    assert stored(store, 0)["cachingEnabled"] is True
    assert stored(store, 1)["batchMaxSize"] == 200
    assert stored(store, 0)["apiKey"] == ANTHROPIC_KEY
    assert AuditEntry.objects.count() == 2
    assert_no_secret(response)


def test_patch_without_if_match_is_428(
    staff_token: str, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    for if_match in (None, "", "*"):
        response = patch({"llm": {"0": {"cachingEnabled": True}}}, staff_token, if_match)
        assert response.status_code == 428
        assert "If-Match" in response.json()["errors"]
    assert stored(store, 0)["cachingEnabled"] is False


def test_patch_with_a_stale_revision_is_412_and_says_what_changed(
    staff_token: str, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    first = patch({"llm": {"0": {"cachingEnabled": True}}}, staff_token, f'"{ai_models.revision}"')

    response = patch(
        {"llm": {"0": {"cachingEnabled": False}}}, staff_token, f'"{ai_models.revision}"'
    )

    body = response.json()
    assert response.status_code == 412
    assert response["ETag"] == first["ETag"]
    assert "changed since you read it" in body["detail"]
    assert body["current"] == {"llm[0].cachingEnabled": True}
    assert body["changes_since_complete"] is True
    assert body["changes_since"][0]["by"] == "operator"
    assert body["changes_since"][0]["changes"]["cachingEnabled"] == {"old": False, "new": True}
    assert stored(store, 0)["cachingEnabled"] is True


def test_a_412_admits_changes_made_outside_the_admin(
    staff_token: str, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    store.write(AI_MODELS_KEY, ai_models.body | {"x": 1}, expected_revision=ai_models.revision)

    response = patch(
        {"llm": {"0": {"cachingEnabled": True}}}, staff_token, f'"{ai_models.revision}"'
    )

    assert response.status_code == 412
    assert response.json()["changes_since_complete"] is False


def test_an_invalid_value_is_422_naming_the_entry_field_and_rule(
    staff_token: str, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    response = patch(
        {"llm": {"0": {"batchMaxSize": 0, "cacheTTL": 60}}}, staff_token, f'"{ai_models.revision}"'
    )

    errors = response.json()["errors"]
    assert response.status_code == 422
    assert set(errors) == {"llm[0].batchMaxSize", "llm[0].cacheTTL"}
    assert "batchMaxSize must be a whole number from 1 to" in errors["llm[0].batchMaxSize"]
    assert stored(store, 0)["batchMaxSize"] == 10000


@pytest.mark.parametrize("value", [[1], {"a": 1}, "lots", 1.5, True])
def test_a_wrong_type_is_422_not_500(
    staff_token: str, ai_models: StoredDocument, value: Any
) -> None:
    response = patch(
        {"llm": {"0": {"batchMaxSize": value}}}, staff_token, f'"{ai_models.revision}"'
    )

    assert response.status_code == 422
    assert "llm[0].batchMaxSize" in response.json()["errors"]


def test_a_non_optimization_field_is_refused_by_name(
    staff_token: str, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    response = patch(
        {"llm": {"0": {"apiKey": "sk-stolen", "model": "x", "cachingEnabled": True}}},
        staff_token,
        f'"{ai_models.revision}"',
    )

    errors = response.json()["errors"]
    assert response.status_code == 400
    assert set(errors) == {"llm[0].apiKey", "llm[0].model"}
    assert "not an optimization field" in errors["llm[0].apiKey"]
    assert stored(store, 0)["apiKey"] == ANTHROPIC_KEY
    assert stored(store, 0)["cachingEnabled"] is False


def test_a_switch_the_provider_cannot_use_is_refused_with_the_reason(
    staff_token: str, ai_models: StoredDocument
) -> None:
    response = patch(
        {"llm": {"2": {"batchingEnabled": True}}}, staff_token, f'"{ai_models.revision}"'
    )

    assert response.status_code == 400
    assert "does not support batching" in response.json()["errors"]["llm[2].batchingEnabled"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"{not json", "body"),
        (b"\xff\xfe", "body"),
        (b"[1, 2]", "body"),
        (b'{"llm": []}', "llm"),
        (b'{"llm": {}}', "llm"),
        (b'{"llm": {"zero": {"cachingEnabled": true}}}', "llm.zero"),
        (b'{"llm": {"-1": {"cachingEnabled": true}}}', "llm.-1"),
        (b'{"llm": {"0": true}}', "llm[0]"),
        (b'{"llm": {"0": {}}}', "llm[0]"),
        (b'{"llm": {"9": {"cachingEnabled": true}}}', "llm[9]"),
        (b'{"embedding": {"0": {"cachingEnabled": true}}}', "embedding"),
    ],
)
def test_malformed_bodies_are_400_naming_what_is_wrong(
    staff_token: str, ai_models: StoredDocument, body: bytes, path: str
) -> None:
    response = patch(body, staff_token, f'"{ai_models.revision}"', raw=True)

    assert response.status_code == 400
    assert path in response.json()["errors"]


def test_the_openapi_schema_documents_the_patch_body_and_if_match(staff_client: Client) -> None:
    schema = staff_client.get("/api/openapi.json").json()

    operation = schema["paths"]["/api/config/ai-models"]["patch"]
    body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert "llm" in body_schema["properties"]
    assert any(parameter["name"] == "If-Match" for parameter in operation["parameters"])
    assert {"412", "422", "428"} <= set(operation["responses"])


def test_an_unreachable_store_is_503_not_500(staff_token: str, unreachable_store) -> None:
    read = Client().get(URL, **bearer(staff_token))
    write = patch({"llm": {"0": {"cachingEnabled": True}}}, staff_token, '"1"')

    assert read.status_code == 503
    assert "connection refused" in read.json()["errors"]["store"]
    assert write.status_code == 503


def test_an_aws_access_key_id_is_shown_only_by_its_ends(staff_client: Client) -> None:
    EmbeddedConfigStore().write(
        "ai_models_config",
        {
            "llm": [
                {
                    "provider": "bedrock",
                    "configuration": {
                        "model": "anthropic.claude-sonnet-4-5",
                        "awsAccessKeyId": "AKIAIOSFODNN7EXAMPLE",
                        "awsAccessSecretKey": "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY",
                    },
                }
            ]
        },
        expected_revision=None,
    )
    response = staff_client.get("/api/config/ai-models")
    assert b"AKIAIOSFODNN7EXAMPLE" not in response.content
    assert b"wJalrXUtnFEMI" not in response.content
    configuration = response.json()["llm"][0]["configuration"]
    assert configuration["awsAccessKeyId"] == "AKIA…MPLE"
