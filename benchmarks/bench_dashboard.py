"""Savings dashboard response times over 1,000,000 events on PostgreSQL, and ingest throughput.

Uses its own database (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/llmopt_bench),
created and migrated if missing, and seeded once with BENCH_DASHBOARD_EVENTS (default 1,000,000)
synthetic events over 90 days (COPY + one rollup rebuild); later runs reuse it. Requests go
through the whole Django stack (middleware, auth, templates) with Django's test client; no
network. Prints:

    BENCH dashboard_page_p50_ms / dashboard_page_p95_ms     full page, periods 24h..90d, filters
    BENCH dashboard_partial_p95_ms                          the htmx update of the figures
    BENCH savings_summary_api_p95_ms                        GET /api/savings/summary
    BENCH savings_data_api_p95_ms                           breakdown + timeseries endpoints
    BENCH usage_ingest_events_per_s                         POST /api/usage/events, 5,000 per body
    BENCH ledger_seed_events_per_s                          only when it had to seed
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

BENCH_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/llmopt_bench")
EVENTS = int(os.environ.get("BENCH_DASHBOARD_EVENTS", "1000000"))
DAYS = 90
ROUNDS = int(os.environ.get("BENCH_DASHBOARD_ROUNDS", "8"))


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _setup() -> None:
    os.environ["DATABASE_URL"] = BENCH_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmopt_admin.settings")
    _ensure_database(BENCH_URL)
    import django
    from django.conf import settings

    if not settings.configured or not django.apps.apps.ready:
        django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, skip_checks=True)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _time(client: Any, path: str, params: dict[str, str], **headers: str) -> float:
    started = time.perf_counter()
    response = client.get(path, params, **headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{path} {params} answered {response.status_code}")
    return elapsed


def main() -> None:
    _setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from llmopt_admin.accounts.services import api_token_create
    from llmopt_admin.savings.models import LedgerEvent
    from llmopt_admin.savings.services import ledger_bulk_load, rollups_rebuild
    from llmopt_admin.savings.synthetic import synthetic_events

    present = LedgerEvent.objects.filter(request_id__startswith="seed-").count()
    if present < EVENTS:
        started = time.perf_counter()
        added = ledger_bulk_load(
            events=synthetic_events(count=EVENTS, days=DAYS, seed=1), chunk=100_000
        )
        seconds = time.perf_counter() - started
        print(f"BENCH ledger_seed_events_per_s {added / seconds:.0f} events/s", flush=True)
    print(f"   ledger holds {LedgerEvent.objects.count():,} events", flush=True)

    user, _ = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True}
    )
    client = Client()
    client.force_login(user)
    _, token = api_token_create(user=user, name="bench", scopes=["read", "ingest"])

    variants: list[dict[str, str]] = [{"period": p} for p in ("24h", "7d", "30d", "90d")] + [
        {"period": "30d", "provider": "anthropic"},
        {"period": "90d", "model": "claude-sonnet-4-5"},
        {"period": "custom", "start": "2000-01-01", "end": "2000-12-31"},
    ]
    for params in variants:  # warm caches and connections once
        _time(client, "/savings/", params)

    page, partial, summary, data = [], [], [], []
    for _ in range(ROUNDS):
        for params in variants:
            page.append(_time(client, "/savings/", params))
            partial.append(_time(client, "/savings/", params, HTTP_HX_REQUEST="true"))
            summary.append(
                _time(client, "/api/savings/summary", params, HTTP_AUTHORIZATION=f"Bearer {token}")
            )
            data.append(_time(client, "/api/savings/breakdown", params))
            data.append(_time(client, "/api/savings/timeseries", params))

    print(f"BENCH dashboard_page_p50_ms {statistics.median(page):.1f} ms")
    print(f"BENCH dashboard_page_p95_ms {_percentile(page, 0.95):.1f} ms")
    print(f"BENCH dashboard_partial_p95_ms {_percentile(partial, 0.95):.1f} ms")
    print(f"BENCH savings_summary_api_p95_ms {_percentile(summary, 0.95):.1f} ms")
    print(f"BENCH savings_data_api_p95_ms {_percentile(data, 0.95):.1f} ms", flush=True)

    # Ingest: realistic events (varied tokens, so pricing is not all cache hits), 5,000 a body.
    run = uuid.uuid4().hex[:8]
    end = datetime.now(UTC)
    bodies = []
    for number in range(6):
        events = []
        for event in synthetic_events(count=5_000, days=1, seed=1000 + number, end=end):
            data_ = event.to_json()
            data_["request_id"] = f"bench-{run}-{number}-{data_['request_id']}"
            data_["input_tokens"] += number  # distinct token counts from the seeded ledger
            events.append(data_)
        bodies.append(json.dumps({"events": events}))
    total, seconds = 0, 0.0
    per_body = []
    for body in bodies:
        started = time.perf_counter()
        response = client.post(
            "/api/usage/events",
            data=body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        elapsed = time.perf_counter() - started
        seconds += elapsed
        per_body.append(elapsed * 1000)
        result = response.json()
        if response.status_code != 200 or result["rejected"]:
            raise RuntimeError(f"ingest failed: {response.status_code} {str(result)[:300]}")
        total += result["accepted"]
    print(f"   ingest ms per 5,000-event body: {', '.join(f'{ms:.0f}' for ms in per_body)}")
    print(f"BENCH usage_ingest_events_per_s {total / seconds:.0f} events/s", flush=True)
    # Keep the benchmark database at its seeded size for the next run's page timings.
    LedgerEvent.objects.filter(request_id__startswith=f"bench-{run}-").delete()
    rollups_rebuild()


if __name__ == "__main__":
    main()
