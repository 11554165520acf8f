"""Fault injection: which failures to simulate, parsed from settings or a request header.

An instance starts with `settings.faults`; a test can replace them while the simulator runs
(`Simulator.set_faults`, or `POST /_simulator/faults` with a JSON object of name → value).
The `x-simulator-faults` header holds comma-separated `name=value` pairs that override the
instance's faults for that request (for batches: at create time, for the whole batch)::

    x-simulator-faults: rate_limit=0.5,overloaded=0.2,server_error=0.1,delay_ms=200
    x-simulator-faults: batch_errored=0.2,batch_expired=0.1
    x-simulator-faults: batch_never_ends=1
    x-simulator-faults: batch_cancel_midway=1
    x-simulator-faults: lose_response=1
    x-simulator-faults: create_delay_ms=3000

The last two reproduce what could make a client pay twice for one piece of work:
`lose_response` (POST /v1/messages and POST /v1/messages/batches) does the work in full — the
message is answered and billed, the batch is created and listed — and then closes the
connection without a byte of response, so httpx raises RemoteProtocolError and the SDK
`APIConnectionError`; `create_delay_ms` creates the batch at once (visible in list and
retrieve) and answers the create only after that many real milliseconds, so a client timing
out and retrying would create a second batch.

Rates are probabilities in [0, 1]; `delay_ms` and `create_delay_ms` are milliseconds >= 0.
Draws are deterministic: each is a hash of the settings' seed and the thing being decided (the
request's sequence number, or the batch's sequence number + custom_id; never a random id), so
the same seed and the same traffic give the same faults.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

HEADER = "x-simulator-faults"


@dataclass(frozen=True)
class Faults:
    """Fault rates for /v1/messages answers and for Message Batches.

    - `rate_limit`: share of requests answered 429 rate_limit_error (with retry-after).
    - `overloaded`: share answered 529 overloaded_error.
    - `server_error`: share answered 500 api_error.
    - `delay_ms`: real milliseconds to wait before answering every request.
    - `stream_error`: share of streams that send an `error` event (overloaded) midway.
    - `batch_errored`: share of a batch's requests that end `errored` (api_error).
    - `batch_expired`: share of a batch's requests that never finish and end `expired`.
    - `batch_never_ends`: chance a batch stalls halfway and only ends at its 24-hour expiry.
    - `batch_cancel_midway`: chance a batch is canceled once half its requests are done.
    - `lose_response`: share of POST /v1/messages and POST /v1/messages/batches requests
      whose work is done (message answered and billed, batch created) but whose connection
      is then closed before any response byte: the SDK raises `APIConnectionError`.
    - `create_delay_ms`: real milliseconds a batch create waits *after* the batch exists
      (already listed and retrievable) before answering.
    """

    rate_limit: float = 0.0
    overloaded: float = 0.0
    server_error: float = 0.0
    delay_ms: float = 0.0
    stream_error: float = 0.0
    batch_errored: float = 0.0
    batch_expired: float = 0.0
    batch_never_ends: float = 0.0
    batch_cancel_midway: float = 0.0
    lose_response: float = 0.0
    create_delay_ms: float = 0.0

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            # Durations (`*_ms`) have no upper bound; everything else is a probability.
            duration = spec.name.endswith("_ms")
            if value < 0 or (not duration and value > 1):
                limit = "a number >= 0" if duration else "a rate between 0 and 1"
                raise ValueError(f"{spec.name} must be {limit}, got {value}")

    @classmethod
    def from_mapping(cls, values: Any) -> Faults:
        """Faults from a JSON object of name → number (unnamed faults are off).

        Raises ValueError naming the bad name or value, so the caller can answer 400.
        """
        if not isinstance(values, Mapping):
            raise ValueError("faults: expected a JSON object of fault name → number")
        for name, value in values.items():
            if name not in FAULT_NAMES:
                raise ValueError(
                    f"faults: unknown fault {name!r}; expected one of " + ", ".join(FAULT_NAMES)
                )
            # bool is an int subclass, but `true` as a rate is a mistake worth reporting.
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"faults: {name} must be a number, got {value!r}")
        return cls(**{name: float(value) for name, value in values.items()})

    def as_dict(self) -> dict[str, float]:
        """Every fault by name, as `GET /_simulator/faults` answers."""
        return {spec.name: getattr(self, spec.name) for spec in fields(self)}

    def overridden_by(self, header: str | None) -> Faults:
        """These faults with the values named in an `x-simulator-faults` header replacing ours."""
        if not header:
            return self
        return replace(self, **parse_fault_header(header))


FAULT_NAMES = tuple(spec.name for spec in fields(Faults))


def parse_fault_header(header: str) -> dict[str, float]:
    """`"rate_limit=0.5,delay_ms=200"` → `{"rate_limit": 0.5, "delay_ms": 200.0}`.

    Raises ValueError naming the bad part, so the caller can answer 400.
    """
    values: dict[str, float] = {}
    for part in header.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, raw = part.partition("=")
        name = name.strip()
        if not sep or name not in FAULT_NAMES:
            raise ValueError(
                f"{HEADER}: unknown fault {part!r}; expected name=value with name one of "
                + ", ".join(FAULT_NAMES)
            )
        try:
            values[name] = float(raw)
        except ValueError:
            raise ValueError(f"{HEADER}: {name} must be a number, got {raw.strip()!r}") from None
    Faults(**values)  # range checks, with the field named
    return values


def draw(seed: int, *key: object) -> float:
    """A deterministic number in [0, 1) for `key` under `seed`."""
    text = "\x1f".join([str(seed), *(str(part) for part in key)])
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
