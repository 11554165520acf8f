"""In Chromium: upload a JSONL file, watch the progress bar reach 100%, download the results.

A real Celery worker (Redis db 12) submits and polls the job against the simulator, whose
clock runs on its own here.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser

from .conftest import MODEL, Worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def running_simulator(simulator_factory: Any) -> Any:
    # Each request takes a real second or so, so the bar visibly moves before it is full.
    return simulator_factory(speed=1.0, batch_start_delay=1.0, batch_seconds_per_request=1.0)


def test_an_operator_uploads_watches_progress_to_100_and_downloads_results(
    live_server: Any,
    running_simulator: Any,
    worker_factory: Callable[..., Worker],
    django_user_model: type[User],
    tmp_path: Path,
    chromium: Browser,
    artifacts: Path,
) -> None:
    django_user_model.objects.create_user("operator", password="pw-operator-1", is_staff=True)
    worker_factory()
    upload = tmp_path / "greetings.jsonl"
    upload.write_text(
        "\n".join(
            json.dumps(
                {
                    "custom_id": f"greet-{i}",
                    "params": {
                        "model": MODEL,
                        "max_tokens": 32,
                        "messages": [{"role": "user", "content": f"Greet person {i}"}],
                    },
                }
            )
            for i in range(4)
        )
    )
    seen: list[int] = []
    # The first request imports the whole URL tree; pay that before the browser's timeouts run.
    with urllib.request.urlopen(f"{live_server.url}/login/", timeout=300) as response:
        assert response.status == 200
    page = chromium.new_page(accept_downloads=True)
    page.set_default_timeout(60_000)
    page.set_default_navigation_timeout(60_000)
    page.goto(f"{live_server.url}/batches/")
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", "pw-operator-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/batches/")
    page.set_input_files("input[type=file]", str(upload))
    page.click("text=Upload and submit")
    page.wait_for_url("**/batches/*/")
    bar = page.locator("#job-progress [role=progressbar]")
    for _ in range(600):  # up to 60 s
        value = int(bar.get_attribute("aria-valuenow") or 0)
        if not seen or seen[-1] != value:
            seen.append(value)
        if value == 100:
            break
        page.wait_for_timeout(100)
    page.wait_for_selector("text=Download all results (JSONL)")
    page.screenshot(path=str(artifacts / "batches-job-done.png"), full_page=True)
    assert page.locator("[data-count=succeeded]").inner_text() == "4"
    with page.expect_download() as download_info:
        page.click("text=Download all results (JSONL)")
    lines = Path(download_info.value.path()).read_text().splitlines()

    assert seen[-1] == 100
    assert seen[0] < 100  # the bar was seen moving, not only full
    results = [json.loads(line) for line in lines]
    assert [r["custom_id"] for r in results] == [f"greet-{i}" for i in range(4)]
    assert all(r["outcome"] == "succeeded" and r["output_text"] for r in results)
