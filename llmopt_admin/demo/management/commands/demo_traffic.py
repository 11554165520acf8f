"""Drive real traffic through get_generator_model -> an optimized model -> the simulator.

The same workload goes through the demo document's Anthropic entry and its OpenAI entry (the
simulator speaks both APIs on one port), so the dashboard shows savings from two providers.
Usage events go to the running admin's ingest API over HTTP (as the backend's recorder sends
them), and one bulk job goes through the admin's batch API, so the dashboard and the batch pages
fill with real, computed figures.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from llmopt_admin.accounts.models import ApiToken
from llmopt_admin.accounts.services import api_token_create
from llmopt_admin.batches.models import FINAL_JOB_STATUSES
from llmopt_admin.configs.services import config_entry_update
from llmopt_admin.configs.stores import get_config_store
from llmopt_admin.demo.traffic import Progress, run_workload
from llmopt_admin.demo.workload import DemoWorkload, build_workload
from optimization import get_generator_model
from optimization.dropin import is_optimized
from optimization.recorders import HttpUsageRecorder, set_default_recorder
from optimization.stores.base import AI_MODELS_KEY, DocumentNotFound

DEMO_CLIENT = "demo_traffic"
OPTIMIZE = {"optimizationEnabled": True, "cachingEnabled": True, "batchingEnabled": True}
JOB_STATES_DONE = {str(status) for status in FINAL_JOB_STATUSES}
ROLES = {"system": "system", "human": "user", "ai": "assistant"}
CONNECT_RETRY_SECONDS = 10.0
PROVIDERS = ("anthropic", "openAI")
FIRST_REQUEST_TIMEOUT = 90.0


class Command(BaseCommand):
    help = "Send a RAG-like demo workload through the wrapper into the simulator."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--admin-url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--optimize",
            action="store_true",
            help="First turn on caching and batching for each provider's entry (audited).",
        )
        parser.add_argument(
            "--providers",
            default=",".join(PROVIDERS),
            help=f"Comma-separated entries to drive, of {', '.join(PROVIDERS)} (default: both).",
        )
        parser.add_argument("--questions", type=int, default=40)
        parser.add_argument("--chats", type=int, default=4)
        parser.add_argument("--turns", type=int, default=5)
        parser.add_argument("--documents", type=int, default=30)
        parser.add_argument("--job-requests", type=int, default=20)
        parser.add_argument("--job-timeout", type=float, default=120.0)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, **options: Any) -> None:
        # A log line per HTTP request would drown the progress bar.
        for name in ("httpx", "httpx2", "anthropic", "optimization"):
            logging.getLogger(name).setLevel(logging.WARNING)
        admin = options["admin_url"].rstrip("/")
        token = self._token()
        self._check_admin(admin, token)
        providers = _providers(options["providers"])
        entries = {p: self._entry(p, optimize=options["optimize"]) for p in providers}
        os.environ.setdefault("ANTHROPIC_BASE_URL", settings.ANTHROPIC_BASE_URL)

        recorder = HttpUsageRecorder(f"{admin}/api/usage/events", token)
        set_default_recorder(recorder)
        workload = build_workload(
            questions=options["questions"],
            chats=options["chats"],
            turns=options["turns"],
            documents=options["documents"],
            seed=options["seed"],
        )
        started = time.monotonic()
        try:
            for provider, entry in entries.items():
                self._drive(provider, entry, workload)
        finally:
            set_default_recorder(None)
            recorder.close()
        lost = recorder.dropped + recorder.failed
        self.stdout.write(
            f"{recorder.sent} usage events recorded in {time.monotonic() - started:.1f} s"
            + (f" ({lost} lost)" if lost else "")
        )
        if options["job_requests"] > 0:
            self._batch_job(admin, token, workload, options)
        self._summary(admin, token)

    def _drive(self, provider: str, entry: dict[str, Any], workload: DemoWorkload) -> None:
        """The workload through the model PipesHub's factory builds for `entry`."""
        # The simulator stands in for OpenAI too unless the environment points elsewhere
        # (PipesHub's factory gives ChatOpenAI no base URL: the SDK reads OPENAI_BASE_URL).
        openai_url = os.environ.get("OPENAI_BASE_URL") or f"{os.environ['ANTHROPIC_BASE_URL']}/v1"
        with _environment(OPENAI_BASE_URL=openai_url):
            model = get_generator_model(provider, entry)
        optimized = is_optimized(model)
        url = openai_url if provider == "openAI" else os.environ["ANTHROPIC_BASE_URL"]
        self.stdout.write(
            f"Sending {workload.calls} calls through {type(model).__name__} "
            f"({'optimized' if optimized else 'unoptimized'}) to {url}"
        )
        if not optimized:
            self.stdout.write(
                f"Optimizations are off for the {provider} entry, so calls go to the plain "
                "model and record no usage events: turn them on at /config/ or pass --optimize."
            )
        asyncio.run(run_workload(model, workload, Progress(workload.calls, self.stdout)))

    def _token(self) -> str:
        """A fresh token for this run; earlier demo tokens are revoked."""
        user = get_user_model().objects.filter(is_superuser=True, is_active=True).first()
        if user is None:
            raise CommandError("no active superuser: run `manage.py ensure_admin` first")
        ApiToken.objects.filter(name=DEMO_CLIENT).update(revoked=True)
        _, raw = api_token_create(user=user, name=DEMO_CLIENT, scopes=["ingest", "submit", "read"])
        return raw

    def _check_admin(self, admin: str, token: str) -> None:
        """The admin answers, with this database's token (a just-started one may be slow)."""
        url = f"{admin}/api/savings/summary"
        # A fresh gunicorn worker imports every app (LangChain, the SDKs) on its first request:
        # seconds on a busy machine. Refused connections get a few retries, no more.
        deadline = time.monotonic() + CONNECT_RETRY_SECONDS
        while True:
            try:
                response = httpx.get(url, headers=_auth(token), timeout=FIRST_REQUEST_TIMEOUT)
                break
            except httpx.ConnectError as error:
                if time.monotonic() >= deadline:
                    raise CommandError(
                        f"the admin at {admin} does not answer ({error}); start it with `make run`"
                    ) from error
                time.sleep(1)
            except httpx.HTTPError as error:
                raise CommandError(f"the admin at {admin} does not answer ({error})") from error
        if response.status_code == 401:
            raise CommandError(
                f"the admin at {admin} does not know this command's API token: it uses another "
                "database; run this command with the admin's DATABASE_URL / LLMOPT_VAR_DIR"
            )
        if response.status_code != 200:
            raise CommandError(
                f"the admin at {admin} answered {response.status_code} to GET {url}: "
                f"{response.text[:300]}"
            )

    def _entry(self, provider: str, *, optimize: bool) -> dict[str, Any]:
        store = get_config_store()
        try:
            document = store.read(AI_MODELS_KEY)
        except DocumentNotFound as error:
            raise CommandError(f"{error}: run `manage.py seed_demo_config` first") from error
        entries = document.body.get("llm") or []
        index = next(
            (
                i
                for i, entry in enumerate(entries)
                if isinstance(entry, dict) and entry.get("provider") == provider
            ),
            None,
        )
        if index is None:
            raise CommandError(f"{AI_MODELS_KEY!r} has no {provider} entry in llm")
        entry = entries[index]
        configuration = entry.get("configuration", {})
        if optimize and any(configuration.get(name) is not True for name in OPTIMIZE):
            result = config_entry_update(
                store=store,
                key=AI_MODELS_KEY,
                index=index,
                changes=OPTIMIZE,
                expected_revision=document.revision,
                actor=None,
            )
            entry = result.document.body["llm"][index]
            self.stdout.write(f"Turned on caching and batching for the {provider} entry.")
        return entry

    def _batch_job(
        self, admin: str, token: str, workload: DemoWorkload, options: dict[str, Any]
    ) -> None:
        """One bulk job through the admin's batch API, followed until it ends."""
        count = min(options["job_requests"], len(workload.documents))
        body = {
            "name": "demo: document summaries",
            "messages": [
                [{"role": ROLES[m.type], "content": m.content} for m in doc]
                for doc in workload.documents[:count]
            ],
            "params": {"model": "claude-haiku-5-5", "max_tokens": 256},
        }
        response = httpx.post(f"{admin}/api/batches", json=body, headers=_auth(token), timeout=30)
        if response.status_code != 201:
            raise CommandError(f"the batch API refused the demo job: {response.text[:300]}")
        job = response.json()
        self.stdout.write(f"Batch job {job['id']} submitted ({count} requests); waiting for it")
        progress = Progress(count, self.stdout)
        deadline = time.monotonic() + options["job_timeout"]
        while job["status"] not in JOB_STATES_DONE and time.monotonic() < deadline:
            time.sleep(1)
            job = httpx.get(f"{admin}/api/batches/{job['id']}", headers=_auth(token)).json()
            finished = count - job["counts"]["pending"]
            if finished > progress.done:
                progress.advance("batch requests", finished - progress.done)
        if job["status"] not in JOB_STATES_DONE:
            self.stdout.write(
                f"Batch job {job['id']} is still {job['status']}: is the worker running? "
                f"It goes on in the background; see {admin}/batches/{job['id']}/"
            )
            return
        self.stdout.write(f"Batch job {job['id']} {job['status']}: {admin}/batches/{job['id']}/")

    def _summary(self, admin: str, token: str) -> None:
        figures = httpx.get(
            f"{admin}/api/savings/summary", params={"period": "24h"}, headers=_auth(token)
        ).json()
        spent, baseline, saved = (
            _cents(figures[name]) for name in ("cost", "baseline_cost", "saved")
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Last 24 h: spent ${spent} of a ${baseline} baseline (saved ${saved}); "
                f"see {admin}/savings/"
            )
        )


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Environment variables set for the duration, then restored."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _providers(value: str) -> list[str]:
    """The `--providers` list, each one checked."""
    providers = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in providers if name not in PROVIDERS]
    if unknown or not providers:
        raise CommandError(
            f"--providers: {', '.join(unknown) or 'none given'}; choose from {', '.join(PROVIDERS)}"
        )
    return providers


def _cents(amount: str) -> Decimal:
    """An API amount ('0.0382598000') to a hundredth of a cent, as the dashboard shows it."""
    return Decimal(amount).quantize(Decimal("0.0001"))


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
