"""Concurrent ingests on PostgreSQL: every request id is recorded once, rollups stay exact."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum

from llmopt_admin.savings.models import HourlyRollup, LedgerEvent
from llmopt_admin.savings.services import IngestResult, usage_events_ingest

pytestmark = pytest.mark.django_db(transaction=True)


def test_overlapping_ingests_in_parallel_count_each_event_once(
    make_event: Callable[..., dict[str, Any]],
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the race being tested is PostgreSQL's (DATABASE_URL is not PostgreSQL)")
    # Four writers, each sending 300 events of which 200 are shared with another writer, in
    # opposite orders, so they contend for the same request ids and the same rollup rows.
    bodies = [
        [make_event(n) for n in range(start, start + 300)][:: 1 if start % 200 else -1]
        for start in (0, 100, 200, 300)
    ]
    unique = {event["request_id"] for body in bodies for event in body}
    barrier = threading.Barrier(len(bodies))
    results: list[IngestResult] = []
    errors: list[BaseException] = []

    def send(body: list[dict[str, Any]]) -> None:
        try:
            barrier.wait()
            results.append(usage_events_ingest(items=body))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(r.accepted for r in results) == len(unique) == LedgerEvent.objects.count()
    assert sum(r.duplicates for r in results) == sum(map(len, bodies)) - len(unique)
    assert HourlyRollup.objects.aggregate(n=Sum("events"))["n"] == len(unique)
    assert (
        HourlyRollup.objects.aggregate(c=Sum("cost"))["c"]
        == LedgerEvent.objects.aggregate(c=Sum("cost"))["c"]
    )
