"""The typed exception tree of the optimization package.

Callers branch on these; each carries the context needed to act on it and never a secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class OptimizationError(Exception):
    """Base class of every error raised by the optimization package."""


class ConfigValidationError(OptimizationError, ValueError):
    """An optimization configuration broke the schema.

    `errors` maps each offending field (camelCase, as stored) to a message a person understands.
    """

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors: dict[str, str] = dict(errors)
        detail = "; ".join(f"{field}: {message}" for field, message in self.errors.items())
        super().__init__(f"invalid optimization configuration: {detail}")


class CacheError(OptimizationError):
    """A prompt-caching request was refused by the provider (e.g. too many breakpoints)."""

    def __init__(
        self, message: str, *, provider: str | None = None, model: str | None = None
    ) -> None:
        self.provider = provider
        self.model = model
        super().__init__(message)


class BatchError(OptimizationError):
    """A Message Batch, or some of its requests, did not produce results.

    `positions` are the input positions affected; `custom_ids` the batch request ids;
    `outcomes` maps a position to its outcome ("errored", "canceled", "expired", ...).
    """

    def __init__(
        self,
        message: str,
        *,
        batch_id: str | None = None,
        positions: Sequence[int] = (),
        custom_ids: Sequence[str] = (),
        outcomes: Mapping[int, str] | None = None,
    ) -> None:
        self.batch_id = batch_id
        self.positions = list(positions)
        self.custom_ids = list(custom_ids)
        self.outcomes = dict(outcomes or {})
        super().__init__(message)


__all__ = ["BatchError", "CacheError", "ConfigValidationError", "OptimizationError"]
