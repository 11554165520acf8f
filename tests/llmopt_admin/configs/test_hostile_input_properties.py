"""Hostile strings, numbers and shapes thrown at the settings form and the PATCH body: never a 500;
a refusal names the field and leaves the stored document exactly as it was; an acceptance stores
what the core's schema makes of the value."""

from __future__ import annotations

import copy
import json
import re
from html import unescape
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llmopt_admin.configs.forms import FORM_FIELDS
from llmopt_admin.configs.models import EmbeddedConfigDocument
from llmopt_admin.configs.services import OPTIMIZATION_FIELDS
from llmopt_admin.configs.shapes import oversized_value
from optimization.config import OptimizationConfig
from optimization.exceptions import ConfigValidationError
from optimization.stores.base import AI_MODELS_KEY
from tests.llmopt_admin.configs.htmx_forms import htmx_submission
from tests.llmopt_admin.conftest import AI_MODELS_DOCUMENT

pytestmark = pytest.mark.django_db

PROPERTY = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
HTMX = {"HTTP_HX_REQUEST": "true"}
API = "/api/config/ai-models"
PROVIDERS = [entry["provider"] for entry in AI_MODELS_DOCUMENT["llm"]]

SPECIAL_TEXT = [
    "",
    " ",
    "\x00",
    "1\x00",
    "NaN",
    "-inf",
    "1e309",
    "0x10",
    "1_000",
    "٣٠٠",  # Arabic-Indic digits
    "𝟑𝟎𝟎",  # mathematical digits
    "300\n",
    "５m",
    "messages:" + "9" * 5000,
    "9" * 4301,
    "9" * 250,
    "system," * 60,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "{{ 7*7 }}",
    "\u202e003",
]
hostile_text = st.one_of(
    st.sampled_from(SPECIAL_TEXT),
    st.text(max_size=40),
    st.text(min_size=150, max_size=400),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.from_regex(r"[+-]?\d{1,400}(\.\d{0,20})?", fullmatch=True),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def reset() -> EmbeddedConfigDocument:
    """The fixture's document, freshly stored at revision 1 (each example starts from it)."""
    EmbeddedConfigDocument.objects.update_or_create(
        key=AI_MODELS_KEY,
        defaults={"body": copy.deepcopy(AI_MODELS_DOCUMENT), "revision": 1},
    )
    return EmbeddedConfigDocument.objects.get(key=AI_MODELS_KEY)


def stored_row() -> tuple[Any, int]:
    row = EmbeddedConfigDocument.objects.get(key=AI_MODELS_KEY)
    return row.body, row.revision


def normalized(name: str, value: Any, provider: str) -> Any:
    """What the core stores for `value`, or ConfigValidationError."""
    return OptimizationConfig.from_dict({name: value}, strict=True, provider=provider).to_dict()[
        name
    ]


def field_errors(page: str, name: str) -> list[str]:
    pattern = rf'data-field="{re.escape(name)}" role="alert">(.*?)</p>'
    return [unescape(message) for message in re.findall(pattern, page, re.S)]


@pytest.fixture
def rendered_forms(staff_client: Client, db: None) -> dict[int, tuple[str, dict[str, str]]]:
    """Each entry's settings form as the page renders it: (URL, what Save would post)."""
    reset()
    forms = {}
    for index in range(len(AI_MODELS_DOCUMENT["llm"])):
        card = staff_client.get(f"/config/{AI_MODELS_KEY}/llm/{index}/edit/", **HTMX)
        url, values = htmx_submission(card.content.decode(), "/edit/")
        forms[index] = (url, values | {"revision": "1"})
    return forms


@PROPERTY
@given(
    index=st.integers(min_value=0, max_value=len(AI_MODELS_DOCUMENT["llm"]) - 1),
    name=st.sampled_from([spec.name for spec in FORM_FIELDS]),
    value=hostile_text,
)
@example(index=0, name="batchMaxSize", value="9" * 5000)
@example(index=0, name="cacheBreakpoints", value="messages:" + "9" * 5000)
@example(index=0, name="batchTimeout", value="1" + "0" * 400)
@example(index=0, name="cacheTTL", value="\x00")
def test_the_settings_form_never_fails_and_refuses_by_field_name(
    staff_client: Client,
    rendered_forms: dict[int, tuple[str, dict[str, str]]],
    index: int,
    name: str,
    value: str,
) -> None:
    reset()
    before = stored_row()
    url, values = rendered_forms[index]

    response = staff_client.post(url, values | {name: value}, **HTMX)

    page = response.content.decode()
    if response.status_code == 200:
        saved = (
            before[0]["llm"][index]["configuration"]
            | stored_row()[0]["llm"][index]["configuration"]
        )
        assert saved[name] == normalized(name, value.strip(), PROVIDERS[index])
    else:
        assert response.status_code in (400, 422), page
        messages = field_errors(page, name)
        assert messages, f"no error on {name}: {page}"
        assert any(name in message for message in messages), messages
        assert stored_row() == before


@PROPERTY
@given(
    revision=hostile_text,
    loaded=st.one_of(hostile_text, json_values.map(json.dumps)),
    entry=hostile_text,
    on=st.booleans(),
)
def test_a_switch_with_hostile_hidden_values_never_fails(
    staff_client: Client, revision: str, loaded: str, entry: str, on: bool
) -> None:
    reset()
    before = stored_row()
    data = {"revision": revision, "loaded": loaded, "entry": entry}
    data |= {"value": "on"} if on else {}

    response = staff_client.post(
        f"/config/{AI_MODELS_KEY}/llm/0/switch/cachingEnabled/", data, **HTMX
    )

    if revision.strip() == "1" and response.status_code == 200:
        return  # the right revision: a real save
    assert response.status_code in (400, 409), response.content.decode()
    assert stored_row() == before


def patch(token: str, body: bytes | str) -> Any:
    return Client().patch(
        API,
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_IF_MATCH='"1"',
    )


@PROPERTY
@given(
    index=st.sampled_from(["0", "1", "2"]),
    name=st.one_of(st.sampled_from(OPTIMIZATION_FIELDS), st.text(max_size=20)),
    value=json_values,
)
@example(index="0", name="batchTimeout", value=10**400)
@example(index="0", name="batchMaxSize", value=-(10**300))
@example(index="0", name="cacheBreakpoints", value=["messages:" + "9" * 5000])
@example(index="0", name="cacheBreakpoints", value=[[[[[1]]]]])
@example(index="0", name="batchTimeout", value=float("nan"))
@example(index="2", name="batchingEnabled", value=True)
@example(index="0", name="apiKey", value="sk-stolen")
def test_the_patch_body_never_fails_and_refuses_by_field_name(
    staff_token: str, index: str, name: str, value: Any
) -> None:
    reset()
    before = stored_row()

    response = patch(staff_token, json.dumps({"llm": {index: {name: value}}}))

    body = response.json()
    position = int(index)
    if response.status_code == 200:
        configuration = stored_row()[0]["llm"][position]["configuration"]
        assert configuration[name] == normalized(name, value, PROVIDERS[position])
        assert body["llm"][position]["configuration"].get("apiKey") in (None, "********")
    else:
        assert response.status_code in (400, 422), body
        assert any(name in path or name in message for path, message in body["errors"].items())
        assert stored_row() == before
        invalid = response.status_code == 422 and name in OPTIMIZATION_FIELDS
        if invalid and oversized_value(name, value) is None:
            # Refused exactly when the core's schema refuses it (the core itself fails on
            # oversized values instead of refusing them, so those are checked by size alone).
            with pytest.raises(ConfigValidationError):
                normalized(name, value, PROVIDERS[position])


@PROPERTY
@given(
    body=st.one_of(
        json_values.map(json.dumps),
        st.dictionaries(st.text(max_size=8), json_values, max_size=3).map(json.dumps),
        st.dictionaries(st.text(max_size=12), json_values, max_size=3).map(
            lambda entries: json.dumps({"llm": entries})
        ),
        st.binary(max_size=60),
    )
)
@example(body="[" * 50_000 + "]" * 50_000)
@example(body=json.dumps({"llm": {"9" * 5000: {"cachingEnabled": True}}}))
@example(body=json.dumps({"llm": {"٣": {"cachingEnabled": True}}}))
@example(body=b"\xff\xfe")
def test_a_hostile_patch_body_shape_is_refused_naming_what_is_wrong(
    staff_token: str, body: str | bytes
) -> None:
    reset()
    before = stored_row()

    response = patch(staff_token, body)

    if response.status_code == 200:
        return  # a shape that happens to be a valid change
    assert response.status_code in (400, 422), response.content
    assert response.json()["errors"]
    assert stored_row() == before
