"""The COPY writer both apps use: text and JSON survive COPY's text format as they were."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction

from llmopt_admin.batches.models import BatchJobRequest
from llmopt_admin.copy_writer import NULL, StagingTable, copy_json, copy_text
from llmopt_admin.savings.models import LedgerEvent

pytestmark = pytest.mark.django_db
TEXTS = ["plain", "tab\there", "back\\slash", "new\nline", "cr\rlf", "\\N", "\\t", "ünïcode", ""]


def test_text_copied_through_a_staging_table_comes_back_as_it_was() -> None:
    staging = StagingTable("test_copy_text", LedgerEvent, ("request_id", "batch_id"))
    with transaction.atomic(), connection.cursor() as cursor:
        staging.load(cursor, "stale\t\\N\n")
        # Loaded again in the same transaction: the earlier rows are gone.
        staging.load(cursor, "".join(f"{copy_text(text)}\t{NULL}\n" for text in TEXTS))
        cursor.execute(f"SELECT request_id, batch_id FROM {staging.name}")  # nosec B608
        assert sorted(cursor.fetchall()) == sorted((text, None) for text in TEXTS)


def test_json_copied_through_a_staging_table_comes_back_as_it_was() -> None:
    staging = StagingTable("test_copy_json", BatchJobRequest, ("id", "output"))
    message = {"text": '\t\n\r\\ \\N "quoted" ünï', "nested": [{"k": "\\\\"}], "n": 1.5}
    with transaction.atomic(), connection.cursor() as cursor:
        staging.load(cursor, f"1\t{copy_json(message)}\n2\t{NULL}\n")
        cursor.execute(f"SELECT id, output::text FROM {staging.name} ORDER BY id")  # nosec B608
        (first, output), second = cursor.fetchall()
    assert (first, json.loads(output)) == (1, message)
    assert second == (2, None)
