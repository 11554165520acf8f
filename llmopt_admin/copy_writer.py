"""Rows into PostgreSQL by COPY: its text format, and a session's staging table to COPY into.

Both apps write their bulk rows this way (the savings ledger's events, a batch job's results):
COPY a chunk into a temporary table private to the database session, then move it into the real
table with one INSERT or UPDATE … FROM of the caller's own. COPY parses rows in C, several
times faster than INSERT … VALUES with one parameter per value.

A COPY line is the row's fields in text form separated by tabs and ended by a newline; NULL is
`\\N`. Numbers, dates and our own constants are written as they are; text that a caller or a
provider supplied goes through `copy_text`, JSON through `copy_json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from django.db import connection, models

NULL = "\\N"

# COPY's text format: these characters would end a field or a row, or start an escape.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: str) -> str:
    """`value` as a COPY field."""
    # The membership tests run in C; most text has none of the four and is returned as is.
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def copy_json(value: Any) -> str:
    """`value` as JSON in a COPY field (a json or jsonb column)."""
    # The JSON encoder escapes tabs and line breaks itself; only backslashes remain.
    return orjson.dumps(value).decode().replace("\\", "\\\\")


class StagingTable:
    """A temporary table shaped like `columns` of `model`'s table, for COPY to fill.

    Created once per database session (ON COMMIT DELETE ROWS: empty again after each commit)
    and emptied before each load, since a caller may load it several times in one transaction.
    """

    def __init__(self, name: str, model: type[models.Model], columns: Sequence[str]) -> None:
        self.name = name
        self.model = model
        self.columns = tuple(columns)

    @property
    def column_list(self) -> str:
        """The columns, quoted and comma-separated, in COPY line order."""
        return ", ".join(connection.ops.quote_name(name) for name in self.columns)

    def load(self, cursor: Any, text: str) -> None:
        """Replace the table's rows with `text`'s COPY lines (each ending in a newline), on
        `cursor`, a Django cursor of a PostgreSQL connection."""
        columns = self.column_list
        table = connection.ops.quote_name(self.model._meta.db_table)
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {self.name} ON COMMIT DELETE ROWS AS "  # noqa: S608  # nosec B608 - our quoted names
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        cursor.execute(f"DELETE FROM {self.name}")  # noqa: S608  # nosec B608 - our own name
        with cursor.cursor.copy(f"COPY {self.name} ({columns}) FROM STDIN") as copy:
            copy.write(text)


__all__ = ["NULL", "StagingTable", "copy_json", "copy_text"]
