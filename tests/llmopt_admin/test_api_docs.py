"""The API docs: behind the same sign-in as every page, with no script from the internet."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_docs_and_the_schema_ask_anonymous_visitors_to_sign_in(client: Client) -> None:
    for path in ("/api/docs", "/api/openapi.json"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/?next=")


def test_the_docs_page_loads_its_assets_from_the_projects_static_files(
    staff_client: Client,
) -> None:
    page = staff_client.get("/api/docs").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources, page
    assert not [source for source in sources if source.startswith(("http:", "https:", "//"))]
    for source in sources:
        if source.startswith("/static/"):
            assert finders.find(source.removeprefix("/static/")), source
    assert staff_client.get("/api/openapi.json").status_code == 200
