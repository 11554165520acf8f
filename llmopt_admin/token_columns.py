"""Model columns for the token kinds, one per `optimization.pricing.TOKEN_FIELDS` entry.

The kinds are defined once, in `optimization.pricing`; a model that stores counts by kind takes
its columns from here instead of spelling the five names out again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models

from optimization.pricing import TOKEN_FIELDS


def token_columns(
    field_class: Callable[..., models.Field[Any, Any]], **options: Any
) -> dict[str, models.Field[Any, Any]]:
    """A `field_class(default=0, **options)` column per token kind, named and ordered as
    `TOKEN_FIELDS`, for a model's class body."""
    return {name: field_class(default=0, **options) for name in TOKEN_FIELDS}
