"""The nine optimization fields as one pydantic model: types, defaults, bounds, aliases, help.

Validators here only turn the documented lenient spellings ("yes", " 300 ", "5m", "1H") into
the canonical value; pydantic then checks type and bounds strictly, so a value no validator
recognised is rejected by the type check. Each field's `FieldRule` carries the one person-readable
message used for any failure of that field (cacheBreakpoints also raises finer messages itself).
See `optimization.config` for the public API and the accepted spellings.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from optimization.capabilities import ProviderCapabilities

Strategy = Literal["auto", "batch_only", "cache_only", "both"]
CacheTTL = Literal[300, 3600]
BreakpointMode = Literal["auto", "off"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
CACHE_TTLS: tuple[int, ...] = get_args(CacheTTL)
BREAKPOINT_MODES: tuple[str, ...] = get_args(BreakpointMode)
MAX_EXPLICIT_BREAKPOINTS = 4
MAX_MESSAGE_INDEX = 999
BATCH_MAX_SIZE_CEILING = 100_000
BATCH_TIMEOUT_MAX = 86_400.0

# The error type of a validator's own complete message (every other failure uses the FieldRule).
MESSAGE_ERROR = "optimization_message"

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
# ASCII digits only ("٣٠٠" is not 300), and few enough that parsing can never hit Python's
# int/float conversion limits: every accepted value is far below these lengths anyway.
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,18}")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]{1,15}(?:\.[0-9]{0,15})?|\.[0-9]{1,15})")
_MESSAGE_RULE = re.compile(r"messages:([+-]?[0-9]{1,6})")
# Numbers beyond this are never converted to float (a float of a huge int overflows).
_NUMBER_LIMIT = 10**15
_TTL_WORDS = {"5m": 300, "1h": 3600}


@dataclass(frozen=True)
class FieldRule:
    """Annotated metadata: the field's kind (for forms and README) and its failure message.

    `message` is formatted with name, value (already shortened), limit and why.
    """

    kind: Literal["bool", "int", "float", "choice", "breakpoints"]
    message: str
    choices: tuple[object, ...] | None = None


def shown(value: Any) -> str:
    """A short repr of a value for messages, safe for huge ints and long strings."""
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


@functools.lru_cache(maxsize=64)
def batch_limit(provider: str | None) -> tuple[int, str]:
    """The largest allowed batchMaxSize and the phrase explaining where it comes from."""
    if provider is not None:
        limit = ProviderCapabilities.detect(provider).batch_max_requests
        if limit is not None:
            return min(limit, BATCH_MAX_SIZE_CEILING), f"{provider}'s per-batch limit"
    return BATCH_MAX_SIZE_CEILING, "the largest batch any provider accepts"


def _spelled_bool(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return value


def _spelled_whole_number(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    return value


def _spelled_seconds(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _NUMBER_LIMIT:
        return float(value)
    if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
        return float(value.strip())
    return value


def _message(text: str) -> PydanticCustomError:
    return PydanticCustomError(MESSAGE_ERROR, "{text}", {"text": text})


def _spelled_rule(name: str, rule: Any) -> str:
    if isinstance(rule, str):
        word = rule.strip().lower().replace(" ", "")
        if word in ("tools", "system"):
            return word
        match = _MESSAGE_RULE.fullmatch(word)
        if match and abs(int(match[1])) <= MAX_MESSAGE_INDEX:
            return f"messages:{int(match[1])}"
    raise _message(
        f'{name} rules must be "tools", "system" or "messages:N" with N a whole number from '
        f"-{MAX_MESSAGE_INDEX} to {MAX_MESSAGE_INDEX}; got {shown(rule)}"
    )


def _spelled_breakpoints(name: str, value: Any) -> Any:
    items: list[Any]
    if isinstance(value, str):
        word = value.strip().lower()
        if word in BREAKPOINT_MODES:
            return word
        items = value.split(",") if word else []
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return value  # the type check rejects it with the field's rule
    if not items:
        raise _message(f'{name} has no rules; use "off" to place no cache breakpoints')
    if len(items) > MAX_EXPLICIT_BREAKPOINTS:
        raise _message(
            f"{name} allows at most {MAX_EXPLICIT_BREAKPOINTS} rules (Anthropic's limit of "
            f"breakpoints per request); got {len(items)}"
        )
    rules = tuple(_spelled_rule(name, item) for item in items)
    if len(set(rules)) != len(rules):
        raise _message(f"{name} names the same rule twice; got {shown(value)}")
    return rules


_BOOL = FieldRule("bool", "{name} must be true or false; got {value}")


class OptimizationFields(BaseModel):
    """The single schema of the optimization fields; aliases are the stored camelCase names."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    optimization_enabled: Annotated[bool, _BOOL] = Field(
        False,
        alias="optimizationEnabled",
        description="Master switch: when off, calls go to the provider exactly as without llmopt.",
    )
    batching_enabled: Annotated[bool, _BOOL] = Field(
        False,
        alias="batchingEnabled",
        description="Send bulk calls through the provider's batch API at half price "
        "(results within 24 h).",
    )
    batch_max_size: Annotated[
        int,
        FieldRule("int", "{name} must be a whole number from 1 to {limit} ({why}); got {value}"),
    ] = Field(
        10_000,
        alias="batchMaxSize",
        description="Submit a batch once this many requests are waiting "
        "(1 up to the provider's limit).",
        ge=1,
        le=BATCH_MAX_SIZE_CEILING,
    )
    batch_timeout: Annotated[
        float,
        FieldRule(
            "float",
            "{name} must be a number of seconds above 0 and at most "
            f"{int(BATCH_TIMEOUT_MAX)} (one day); got {{value}}",
        ),
    ] = Field(
        30.0,
        alias="batchTimeout",
        description="Submit a partial batch after this many seconds of waiting "
        "(above 0, at most 86400).",
        gt=0,
        le=BATCH_TIMEOUT_MAX,
        allow_inf_nan=False,
    )
    caching_enabled: Annotated[bool, _BOOL] = Field(
        False,
        alias="cachingEnabled",
        description="Mark stable prompt prefixes for the provider's prompt cache "
        "(reads cost 10% of input).",
    )
    cache_ttl: Annotated[
        CacheTTL,
        FieldRule(
            "choice",
            "{name} must be 300 (5 minutes) or 3600 (1 hour), the two lifetimes Anthropic "
            "offers; got {value}",
            CACHE_TTLS,
        ),
    ] = Field(
        300,
        alias="cacheTTL",
        description="Cache entry lifetime in seconds: 300 (5 min, writes 1.25x) "
        "or 3600 (1 h, writes 2x).",
    )
    cache_breakpoints: Annotated[
        BreakpointMode | tuple[str, ...],
        FieldRule(
            "breakpoints",
            '{name} must be "auto", "off" or a list of rules ("tools", "system", '
            '"messages:N"); got {value}',
            BREAKPOINT_MODES,
        ),
    ] = Field(
        "auto",
        alias="cacheBreakpoints",
        description='Where cache breakpoints go: "auto", "off", or up to 4 rules from "tools", '
        '"system", "messages:N" (e.g. "system, messages:-1").',
    )
    fallback_to_standard: Annotated[bool, _BOOL] = Field(
        True,
        alias="fallbackToStandard",
        description="If an optimized call fails, retry it once through the standard API.",
    )
    optimization_strategy: Annotated[
        Strategy,
        FieldRule(
            "choice", f"{{name}} must be one of {', '.join(STRATEGIES)}; got {{value}}", STRATEGIES
        ),
    ] = Field(
        "auto",
        alias="optimizationStrategy",
        description="Which switched-on features may be used: auto, both, batch_only or cache_only.",
    )

    @field_validator(
        "optimization_enabled",
        "batching_enabled",
        "caching_enabled",
        "fallback_to_standard",
        mode="before",
    )
    @classmethod
    def _bool_spellings(cls, value: Any) -> Any:
        return _spelled_bool(value)

    @field_validator("batch_max_size", mode="before")
    @classmethod
    def _whole_number_spellings(cls, value: Any) -> Any:
        return _spelled_whole_number(value)

    @field_validator("batch_max_size", mode="after")
    @classmethod
    def _within_the_provider_limit(cls, value: int, info: ValidationInfo) -> int:
        provider = info.context.get("provider") if isinstance(info.context, dict) else None
        if value > batch_limit(provider)[0]:
            raise PydanticCustomError("provider_limit", "above the provider's batch limit")
        return value

    @field_validator("batch_timeout", mode="before")
    @classmethod
    def _seconds_spellings(cls, value: Any) -> Any:
        return _spelled_seconds(value)

    @field_validator("cache_ttl", mode="before")
    @classmethod
    def _ttl_spellings(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in _TTL_WORDS:
            return _TTL_WORDS[value.strip().lower()]
        return _spelled_whole_number(value)

    @field_validator("cache_breakpoints", mode="before")
    @classmethod
    def _breakpoint_spellings(cls, value: Any) -> Any:
        return _spelled_breakpoints("cacheBreakpoints", value)

    @field_validator("optimization_strategy", mode="before")
    @classmethod
    def _strategy_spellings(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value
