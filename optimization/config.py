"""The optimization fields of one `llm[i].configuration` entry: schema, parsing, semantics.

This module is the single source of truth for the nine fields (camelCase as stored, defaults as
in the Phase 1 plan). The wrapper, the migration, the admin forms and the API all validate here.

Fields (see `FIELDS` for types, ranges and one-sentence help):

    optimizationEnabled=false  batchingEnabled=false  batchMaxSize=10000  batchTimeout=30
    cachingEnabled=false  cacheTTL=300  cacheBreakpoints="auto"  fallbackToStandard=true
    optimizationStrategy="auto"

Two modes:

- tolerant (`strict=False`, the backend's hot path): a bad value falls back to its default (an
  over-limit `batchMaxSize` to the largest allowed value) and is reported in `.warnings`;
  parsing never raises, whatever JSON arrives.
- strict (`strict=True`, forms, API, migration): every bad field is collected and
  `ConfigValidationError(errors={field: message})` is raised, each message naming the field,
  the rule and the offending value.

A missing field or a JSON `null` means "not set" and takes the default. Unknown keys (`model`,
`apiKey`, ...) are kept untouched in `.extra` and written back by `to_dict()` in their
original order.

Accepted spellings (deliberate, because values arrive from JSON, HTML forms and env files):

- booleans: true/false; the strings "true"/"false", "yes"/"no", "on"/"off", "1"/"0" (any case,
  surrounding spaces ignored); the integers 1 and 0. Anything else (2, "maybe", 0.5) is rejected.
- whole numbers (`batchMaxSize`): integers, floats with no fractional part (10000.0), and strings
  of decimal digits with an optional sign ("300", " +42 "). Booleans are never numbers.
- seconds (`batchTimeout`): integers, finite floats, and decimal strings ("30", "30.5", ".5");
  no exponents, "nan" or "inf". Must be > 0 and at most 86400 (one day, the longest a Message
  Batch may run).
- `cacheTTL`: 300 or 3600, as numbers or strings, or Anthropic's own spellings "5m" and "1h".
- `optimizationStrategy`: one of auto, batch_only, cache_only, both (any case).
- `cacheBreakpoints`: "auto", "off", or explicit rules as a list (["system", "messages:-1"]) or a
  comma-separated string ("system, messages:-1").

Explicit breakpoint rules (a closed vocabulary; at most 4, Anthropic's per-request limit; no
repeats; kept in the given order):

- "tools": after the last tool definition (caches the tool list).
- "system": on the last block of the system prompt (caches tools + system).
- "messages:N": on the last content block of conversation message N (system messages not
  counted), Python indexing: "messages:0" is the first message, "messages:-1" the last,
  "messages:-2" the one before it. |N| <= 999.

Rules are requests, not orders: the cache planner still skips a rule whose prefix is below the
model's minimum cacheable length or whose message does not exist, and never exceeds 4 breakpoints
counting those the caller placed. "auto" lets the planner choose; "off" places none.

Strategy semantics. A feature is used only when `optimizationEnabled` is on, its own switch
(`batchingEnabled` / `cachingEnabled`) is on, the strategy allows it and the provider/model
supports it. The switches are hard vetoes: turning a switch off always stops that feature.

    optimizationStrategy | batching used when          | caching used when
    ---------------------+-----------------------------+----------------------------
    auto                 | batchingEnabled & supported | cachingEnabled & supported
    both                 | batchingEnabled & supported | cachingEnabled & supported
    batch_only           | batchingEnabled & supported | never
    cache_only           | never                       | cachingEnabled & supported
    (optimizationEnabled false: nothing, whatever the rest says)

"auto" and "both" allow the same features today; "both" pins that choice, while "auto" leaves
the product free to skip a feature where it would not pay. For explicit-marker providers
(Anthropic-style), `cacheBreakpoints="off"` also means no caching: nothing would be marked.
`wants_batching` / `wants_caching` implement this table and nothing else does.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from optimization.capabilities import ProviderCapabilities
from optimization.exceptions import ConfigValidationError

Strategy = Literal["auto", "batch_only", "cache_only", "both"]
STRATEGIES: tuple[Strategy, ...] = ("auto", "batch_only", "cache_only", "both")
CACHE_TTLS: tuple[int, ...] = (300, 3600)
BREAKPOINT_MODES: tuple[str, ...] = ("auto", "off")
MAX_EXPLICIT_BREAKPOINTS = 4
MAX_MESSAGE_INDEX = 999
BATCH_MAX_SIZE_CEILING = 100_000
BATCH_TIMEOUT_MAX = 86_400.0

OPTIMIZATION_DEFAULTS: Mapping[str, object] = MappingProxyType(
    {
        "optimizationEnabled": False,
        "batchingEnabled": False,
        "batchMaxSize": 10_000,
        "batchTimeout": 30,
        "cachingEnabled": False,
        "cacheTTL": 300,
        "cacheBreakpoints": "auto",
        "fallbackToStandard": True,
        "optimizationStrategy": "auto",
    }
)


@dataclass(frozen=True)
class FieldSpec:
    """One optimization field as forms, the API and the README reference table show it.

    `minimum`/`maximum` bound numbers inclusively unless `minimum_exclusive` (batchTimeout must
    be above 0). batchMaxSize's real maximum is the provider's limit (see `validate_field`).
    """

    name: str
    attribute: str
    type: Literal["bool", "int", "float", "choice", "breakpoints"]
    default: object
    help: str
    choices: tuple[object, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    minimum_exclusive: bool = False


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "optimizationEnabled",
        "optimization_enabled",
        "bool",
        False,
        "Master switch: when off, calls go to the provider exactly as without llmopt.",
    ),
    FieldSpec(
        "batchingEnabled",
        "batching_enabled",
        "bool",
        False,
        "Send bulk calls through the provider's batch API at half price (results within 24 h).",
    ),
    FieldSpec(
        "batchMaxSize",
        "batch_max_size",
        "int",
        10_000,
        "Submit a batch once this many requests are waiting (1 up to the provider's limit).",
        minimum=1,
        maximum=BATCH_MAX_SIZE_CEILING,
    ),
    FieldSpec(
        "batchTimeout",
        "batch_timeout",
        "float",
        30,
        "Submit a partial batch after this many seconds of waiting (above 0, at most 86400).",
        minimum=0,
        maximum=BATCH_TIMEOUT_MAX,
        minimum_exclusive=True,
    ),
    FieldSpec(
        "cachingEnabled",
        "caching_enabled",
        "bool",
        False,
        "Mark stable prompt prefixes for the provider's prompt cache (reads cost 10% of input).",
    ),
    FieldSpec(
        "cacheTTL",
        "cache_ttl",
        "choice",
        300,
        "Cache entry lifetime in seconds: 300 (5 min, writes 1.25x) or 3600 (1 h, writes 2x).",
        choices=CACHE_TTLS,
    ),
    FieldSpec(
        "cacheBreakpoints",
        "cache_breakpoints",
        "breakpoints",
        "auto",
        'Where cache breakpoints go: "auto", "off", or up to 4 rules from "tools", "system", '
        '"messages:N" (e.g. "system, messages:-1").',
        choices=BREAKPOINT_MODES,
    ),
    FieldSpec(
        "fallbackToStandard",
        "fallback_to_standard",
        "bool",
        True,
        "If an optimized call fails, retry it once through the standard API.",
    ),
    FieldSpec(
        "optimizationStrategy",
        "optimization_strategy",
        "choice",
        "auto",
        "Which switched-on features may be used: auto, both, batch_only or cache_only.",
        choices=STRATEGIES,
    ),
)
_SPECS: Mapping[str, FieldSpec] = MappingProxyType({spec.name: spec for spec in FIELDS})

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
# ASCII digits only ("٣٠٠" is not 300), and few enough that parsing can never hit Python's
# int/float conversion limits: every accepted value is far below these lengths anyway.
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,18}")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]{1,15}(?:\.[0-9]{0,15})?|\.[0-9]{1,15})")
_MESSAGE_RULE = re.compile(r"messages:([+-]?[0-9]{1,6})")
# Numbers beyond this are refused before any conversion (a float of a huge int overflows).
_NUMBER_LIMIT = 10**15
_TTL_WORDS = {"5m": 300, "1h": 3600}


class _Invalid(ValueError):
    """A value broke its field's rule; the message is complete and person-readable."""


def _shown(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _NUMBER_LIMIT:
        # repr() of a huge int can itself fail (Python's 4,300-digit conversion limit).
        return f"a {value.bit_length()}-bit number"
    if isinstance(value, str) and len(value) > 60:
        return repr(value[:57]) + "..."
    try:
        text = repr(value)
    except ValueError:  # a container holding a huge int
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise _Invalid(f"{name} must be true or false; got {_shown(value)}")


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) <= _NUMBER_LIMIT else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value) if abs(value) <= _NUMBER_LIMIT else None
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    return None


@functools.lru_cache(maxsize=64)
def _batch_limit(provider: str | None) -> tuple[int, str]:
    """The largest allowed batchMaxSize and the phrase explaining where it comes from."""
    if provider is None:
        return BATCH_MAX_SIZE_CEILING, "the largest batch any provider accepts"
    limit = ProviderCapabilities.detect(provider).batch_max_requests
    if limit is None:
        return BATCH_MAX_SIZE_CEILING, "the largest batch any provider accepts"
    return min(limit, BATCH_MAX_SIZE_CEILING), f"{provider}'s per-batch limit"


def _parse_batch_max_size(name: str, value: Any, provider: str | None) -> int:
    limit, why = _batch_limit(provider)
    number = _whole_number(value)
    if number is None or not 1 <= number <= limit:
        raise _Invalid(
            f"{name} must be a whole number from 1 to {limit} ({why}); got {_shown(value)}"
        )
    return number


def _parse_seconds(name: str, value: Any) -> float:
    seconds: float | None = None
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int | float) and abs(value) <= _NUMBER_LIMIT:
        seconds = float(value)
    elif isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
        seconds = float(value.strip())
    if seconds is None or not math.isfinite(seconds) or not 0 < seconds <= BATCH_TIMEOUT_MAX:
        raise _Invalid(
            f"{name} must be a number of seconds above 0 and at most {int(BATCH_TIMEOUT_MAX)} "
            f"(one day); got {_shown(value)}"
        )
    return seconds


def _parse_ttl(name: str, value: Any) -> int:
    ttl: int | None
    if isinstance(value, str) and value.strip().lower() in _TTL_WORDS:
        ttl = _TTL_WORDS[value.strip().lower()]
    else:
        ttl = _whole_number(value)
    if ttl not in CACHE_TTLS:
        raise _Invalid(
            f"{name} must be 300 (5 minutes) or 3600 (1 hour), the two lifetimes Anthropic "
            f"offers; got {_shown(value)}"
        )
    return ttl


def _parse_strategy(name: str, value: Any) -> Strategy:
    if isinstance(value, str):
        word = value.strip().lower()
        for strategy in STRATEGIES:
            if word == strategy:
                return strategy
    raise _Invalid(f"{name} must be one of {', '.join(STRATEGIES)}; got {_shown(value)}")


def _parse_rule(name: str, rule: Any) -> str:
    if isinstance(rule, str):
        word = rule.strip().lower().replace(" ", "")
        if word in ("tools", "system"):
            return word
        match = _MESSAGE_RULE.fullmatch(word)
        if match and abs(int(match[1])) <= MAX_MESSAGE_INDEX:
            return f"messages:{int(match[1])}"
    raise _Invalid(
        f'{name} rules must be "tools", "system" or "messages:N" with N a whole number from '
        f"-{MAX_MESSAGE_INDEX} to {MAX_MESSAGE_INDEX}; got {_shown(rule)}"
    )


def _parse_breakpoints(name: str, value: Any) -> str | tuple[str, ...]:
    items: list[Any]
    if isinstance(value, str):
        word = value.strip().lower()
        if word in BREAKPOINT_MODES:
            return word
        items = value.split(",") if word else []
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise _Invalid(
            f'{name} must be "auto", "off" or a list of rules ("tools", "system", '
            f'"messages:N"); got {_shown(value)}'
        )
    if not items:
        raise _Invalid(f'{name} has no rules; use "off" to place no cache breakpoints')
    if len(items) > MAX_EXPLICIT_BREAKPOINTS:
        raise _Invalid(
            f"{name} allows at most {MAX_EXPLICIT_BREAKPOINTS} rules (Anthropic's limit of "
            f"breakpoints per request); got {len(items)}"
        )
    rules = tuple(_parse_rule(name, item) for item in items)
    if len(set(rules)) != len(rules):
        raise _Invalid(f"{name} names the same rule twice; got {_shown(value)}")
    return rules


_PARSERS: Mapping[str, Callable[[str, Any, str | None], Any]] = MappingProxyType(
    {
        "optimizationEnabled": lambda n, v, p: _parse_bool(n, v),
        "batchingEnabled": lambda n, v, p: _parse_bool(n, v),
        "batchMaxSize": _parse_batch_max_size,
        "batchTimeout": lambda n, v, p: _parse_seconds(n, v),
        "cachingEnabled": lambda n, v, p: _parse_bool(n, v),
        "cacheTTL": lambda n, v, p: _parse_ttl(n, v),
        "cacheBreakpoints": lambda n, v, p: _parse_breakpoints(n, v),
        "fallbackToStandard": lambda n, v, p: _parse_bool(n, v),
        "optimizationStrategy": lambda n, v, p: _parse_strategy(n, v),
    }
)


def validate_field(name: str, value: Any, *, provider: str | None = None) -> Any:
    """Strictly check one field and return its normalized value.

    Raises ConfigValidationError({name: message}) for a bad value or an unknown field name.
    `provider` bounds batchMaxSize by that provider's per-batch request limit.
    """
    parser = _PARSERS.get(name)
    if parser is None:
        known = ", ".join(_SPECS)
        raise ConfigValidationError({name: f"{name} is not an optimization field ({known})"})
    if value is None:
        return _normalized_default(name)
    try:
        return parser(name, value, provider)
    except _Invalid as error:
        raise ConfigValidationError({name: str(error)}) from None


def _normalized_default(name: str) -> Any:
    return _PARSERS[name](name, OPTIMIZATION_DEFAULTS[name], None)


def _fallback(name: str, provider: str | None) -> Any:
    value = _normalized_default(name)
    if name == "batchMaxSize":
        return min(value, _batch_limit(provider)[0])
    return value


@dataclass(frozen=True)
class OptimizationConfig:
    """The parsed optimization settings of one LLM entry. Build it with `from_dict`."""

    optimization_enabled: bool = False
    batching_enabled: bool = False
    batch_max_size: int = 10_000
    batch_timeout: float = 30.0
    caching_enabled: bool = False
    cache_ttl: int = 300
    cache_breakpoints: str | tuple[str, ...] = "auto"
    fallback_to_standard: bool = True
    optimization_strategy: Strategy = "auto"
    # repr=False: extra holds apiKey and other secrets that must never reach a log line.
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    warnings: tuple[str, ...] = ()
    _key_order: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def from_dict(
        cls,
        configuration: Mapping[str, Any],
        strict: bool = False,
        *,
        provider: str | None = None,
    ) -> OptimizationConfig:
        """Parse an `llm[i].configuration` mapping (see the module docstring for the rules).

        strict=True raises ConfigValidationError listing every bad field; strict=False never
        raises and records what it replaced in `.warnings`.
        """
        if not isinstance(configuration, Mapping):
            message = f"configuration must be a JSON object; got {_shown(configuration)}"
            if strict:
                raise ConfigValidationError({"configuration": message})
            return cls(warnings=(message + "; using the defaults",))
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        warnings: list[str] = []
        for spec in FIELDS:
            raw = configuration.get(spec.name)
            if raw is None:
                values[spec.attribute] = _normalized_default(spec.name)
                continue
            try:
                values[spec.attribute] = _PARSERS[spec.name](spec.name, raw, provider)
            except _Invalid as error:
                errors[spec.name] = str(error)
                fallback = _fallback(spec.name, provider)
                values[spec.attribute] = fallback
                warnings.append(f"{error}; using {_shown(fallback)}")
        if strict and errors:
            raise ConfigValidationError(errors)
        extra = {key: value for key, value in configuration.items() if key not in _SPECS}
        return cls(
            **values,
            extra=MappingProxyType(extra),
            warnings=tuple(warnings),
            _key_order=tuple(configuration),
        )

    def to_dict(self) -> dict[str, Any]:
        """The configuration as stored: camelCase fields plus every unknown key, untouched.

        Keys keep the order they arrived in; fields that were missing follow at the end.
        """
        fields: dict[str, Any] = {}
        for spec in FIELDS:
            value = getattr(self, spec.attribute)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, float) and value.is_integer():
                value = int(value)
            fields[spec.name] = value
        result: dict[str, Any] = {}
        for key in self._key_order:
            if key in fields:
                result[key] = fields.pop(key)
            else:
                result[key] = copy.deepcopy(self.extra[key])
        for key, value in self.extra.items():
            if key not in result:
                result[key] = copy.deepcopy(value)
        result.update(fields)
        return result

    def wants_batching(self, capabilities: ProviderCapabilities) -> bool:
        """True when bulk calls should go through the batch API (see the strategy table)."""
        return (
            self.optimization_enabled
            and self.batching_enabled
            and self.optimization_strategy != "cache_only"
            and capabilities.supports_batching
        )

    def wants_caching(self, capabilities: ProviderCapabilities) -> bool:
        """True when calls should use prompt caching (see the strategy table)."""
        if capabilities.cache_marker_type == "explicit" and self.cache_breakpoints == "off":
            return False
        return (
            self.optimization_enabled
            and self.caching_enabled
            and self.optimization_strategy != "batch_only"
            and capabilities.supports_caching
        )


__all__ = [
    "FIELDS",
    "OPTIMIZATION_DEFAULTS",
    "STRATEGIES",
    "FieldSpec",
    "OptimizationConfig",
    "Strategy",
    "validate_field",
]
