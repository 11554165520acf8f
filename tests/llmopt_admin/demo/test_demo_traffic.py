"""demo_traffic drives real calls through the wrapper into the simulator and the admin's APIs."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from llmopt_admin.accounts.models import ApiToken
from llmopt_admin.batches.models import BatchJob
from llmopt_admin.configs.stores import get_config_store
from llmopt_admin.demo.traffic import Progress
from llmopt_admin.demo.workload import build_workload, handbook
from llmopt_admin.savings.models import LedgerEvent
from optimization._tokens import estimate_tokens
from optimization.simulator import create_app
from optimization.simulator.settings import SimulatorSettings
from optimization.simulator.testing import serve
from optimization.stores.base import AI_MODELS_KEY

SMALL = ["--questions", "4", "--chats", "1", "--turns", "3", "--documents", "3"]


@pytest.fixture
def simulator_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    fast = SimulatorSettings(batch_start_delay=0.05, batch_seconds_per_request=0.001)
    with serve(create_app(fast)) as url:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
        yield url


@pytest.fixture
def demo_ready(transactional_db: None) -> None:
    get_user_model().objects.create_superuser("admin", password="unused-in-tests")
    call_command("seed_demo_config", stdout=io.StringIO())
    call_command("migrate_aiconfigs", stdout=io.StringIO())


def demo(live_server: Any, *args: str) -> str:
    out = io.StringIO()
    call_command("demo_traffic", "--admin-url", live_server.url, *SMALL, *args, stdout=out)
    return out.getvalue()


def test_the_workload_is_reproducible_and_its_system_prompt_is_worth_caching() -> None:
    assert build_workload(seed=3) == build_workload(seed=3)
    assert build_workload(seed=3) != build_workload(seed=4)
    assert estimate_tokens(handbook()) > 2048  # above every Claude model's minimum
    workload = build_workload(questions=5, chats=2, turns=3, documents=4)
    assert workload.calls == 5 + 2 * 3 + 4


def test_progress_prints_the_first_step_and_a_line_per_tenth_when_not_on_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress(total=20, out=out)
    for _ in range(20):
        progress.advance("calls")
    lines = out.getvalue().splitlines()
    assert len(lines) == 11  # the first step, then each tenth reached
    assert lines[-1].startswith("[" + "#" * 30 + "] 20/20 calls")


def test_it_optimizes_the_anthropic_and_openai_entries_and_records_real_savings(
    demo_ready: None, live_server: Any, simulator_url: str
) -> None:
    output = demo(live_server, "--optimize", "--job-requests", "2", "--job-timeout", "2")

    entries = get_config_store().read(AI_MODELS_KEY).body["llm"]
    for provider in ("anthropic", "openAI"):
        [configuration] = [e["configuration"] for e in entries if e["provider"] == provider]
        assert configuration["optimizationEnabled"] is True
        assert configuration["cachingEnabled"] is True
        assert configuration["batchingEnabled"] is True
    assert "ChatAnthropic (optimized)" in output
    assert "ChatOpenAI (optimized)" in output

    for provider in ("anthropic", "openAI"):
        events = LedgerEvent.objects.filter(provider=provider)
        assert events.count() == 4 + 3 + 3  # questions, chat turns, documents
        assert sum(e.cache_read_tokens for e in events) > 0
        assert {e.mode for e in events} >= {"cached", "batch+cache"}
        spent = sum((e.cost for e in events), Decimal(0))
        baseline = sum((e.baseline_cost for e in events), Decimal(0))
        assert spent < baseline

    job = BatchJob.objects.get()
    assert job.request_count == 2
    assert job.submitted_by == "token:demo_traffic"
    assert "is the worker running?" in output  # no worker in this test: the job waits
    assert ApiToken.objects.filter(name="demo_traffic", revoked=False).count() == 1


def test_without_optimize_it_reports_the_unoptimized_model(
    demo_ready: None, live_server: Any, simulator_url: str
) -> None:
    output = demo(live_server, "--job-requests", "0")
    assert "ChatAnthropic (unoptimized)" in output
    assert "ChatOpenAI (unoptimized)" in output
    assert "turn them on at /config/ or pass --optimize" in output
    assert not LedgerEvent.objects.exists()  # the plain model is untouched: no recorder


def test_it_names_what_to_start_when_the_admin_does_not_answer(
    demo_ready: None, simulator_url: str
) -> None:
    with pytest.raises(CommandError, match="does not answer"):
        call_command("demo_traffic", "--admin-url", "http://127.0.0.1:9", stdout=io.StringIO())


def test_it_names_the_providers_it_can_drive(demo_ready: None, live_server: Any) -> None:
    with pytest.raises(CommandError, match="--providers: mistral; choose from anthropic, openAI"):
        demo(live_server, "--providers", "anthropic,mistral")


def test_it_asks_for_an_admin_user_first(transactional_db: None) -> None:
    with pytest.raises(CommandError, match="ensure_admin"):
        call_command("demo_traffic", stdout=io.StringIO())
