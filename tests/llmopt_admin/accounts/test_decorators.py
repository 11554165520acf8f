"""staff_required, shared by the savings and config pages."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["/savings/?period=7d&provider=openAI", "/config/"])
def test_an_expired_session_on_an_htmx_request_sends_the_whole_page_back_to_it_after_login(
    page: str,
) -> None:
    path = page.split("?")[0]
    response = Client().get(
        path, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{page}"
    )
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/login/?next=" + page.replace("/", "%2F").replace(
        "?", "%3F"
    ).replace("=", "%3D").replace("&", "%26")


def test_an_htmx_request_from_another_site_comes_back_to_the_requested_path_only() -> None:
    response = Client().get(
        "/savings/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="https://evil.example/x"
    )
    assert response["HX-Redirect"] == "/login/?next=%2Fsavings%2F"


def test_anonymous_pages_go_to_the_login_and_non_staff_get_403(outsider_client: Client) -> None:
    assert Client().get("/config/")["Location"] == "/login/?next=/config/"
    assert outsider_client.get("/savings/").status_code == 403
    assert outsider_client.get("/config/").status_code == 403
