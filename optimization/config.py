"""The optimization fields of one `llm[i].configuration` entry: schema, parsing, semantics.

The nine fields are declared once, as the pydantic model `OptimizationFields` in
`optimization._config_fields` (types, defaults, bounds, camelCase aliases, help, lenient
spellings); `FIELDS`, `OPTIMIZATION_DEFAULTS` and `OptimizationConfig`'s defaults are derived
from it. The wrapper, the migration, the admin forms and the API all validate here.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import annotated_types
from pydantic import ValidationError

from optimization._config_fields import (
    BATCH_MAX_SIZE_CEILING,
    BATCH_TIMEOUT_MAX,
    BREAKPOINT_MODES,
    CACHE_TTLS,
    MAX_EXPLICIT_BREAKPOINTS,
    MAX_MESSAGE_INDEX,
    MESSAGE_ERROR,
    STRATEGIES,
    FieldRule,
    OptimizationFields,
    Strategy,
    batch_limit,
    shown,
)
from optimization.capabilities import ProviderCapabilities
from optimization.exceptions import ConfigValidationError


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


def _stored(value: Any) -> Any:
    """A field value as written to JSON: tuples as lists, whole-number floats as integers."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _rule_of(attribute: str) -> FieldRule:
    metadata = OptimizationFields.model_fields[attribute].metadata
    return next(item for item in metadata if isinstance(item, FieldRule))


def _field_spec(attribute: str) -> FieldSpec:
    info = OptimizationFields.model_fields[attribute]
    rule = _rule_of(attribute)
    bounds = {type(item): item for item in info.metadata}
    low = bounds.get(annotated_types.Gt) or bounds.get(annotated_types.Ge)
    high = bounds.get(annotated_types.Le)
    return FieldSpec(
        name=info.alias or attribute,
        attribute=attribute,
        type=rule.kind,
        default=_stored(info.default),
        help=info.description or "",
        choices=rule.choices,
        minimum=getattr(low, "gt", getattr(low, "ge", None)),
        maximum=getattr(high, "le", None),
        minimum_exclusive=isinstance(low, annotated_types.Gt),
    )


FIELDS: tuple[FieldSpec, ...] = tuple(map(_field_spec, OptimizationFields.model_fields))
_SPECS: Mapping[str, FieldSpec] = MappingProxyType({spec.name: spec for spec in FIELDS})
_RULES: Mapping[str, FieldRule] = MappingProxyType(
    {spec.name: _rule_of(spec.attribute) for spec in FIELDS}
)
OPTIMIZATION_DEFAULTS: Mapping[str, object] = MappingProxyType(
    {spec.name: spec.default for spec in FIELDS}
)
_DEFAULT = OptimizationFields.model_validate({})


def _errors(
    error: ValidationError, data: Mapping[str, Any], provider: str | None
) -> dict[str, str]:
    """One message per failing field, in field order, naming the field, rule and value."""
    limit, why = batch_limit(provider)
    messages: dict[str, str] = {}
    for detail in error.errors(include_url=False, include_context=False, include_input=False):
        name = str(detail["loc"][0])
        if name in messages:
            continue
        if detail["type"] == MESSAGE_ERROR:
            messages[name] = detail["msg"]
        else:
            messages[name] = _RULES[name].message.format(
                name=name, value=shown(data[name]), limit=limit, why=why
            )
    return {spec.name: messages[spec.name] for spec in FIELDS if spec.name in messages}


def _validated(
    data: Mapping[str, Any], provider: str | None
) -> tuple[OptimizationFields, dict[str, str]]:
    """The fields of `data` (missing ones default) and the message of each bad one."""
    context = {"provider": provider}
    try:
        return OptimizationFields.model_validate(data, context=context), {}
    except ValidationError as error:
        errors = _errors(error, data, provider)
    good = {name: value for name, value in data.items() if name not in errors}
    return OptimizationFields.model_validate(good, context=context), errors


def _fallback(name: str, provider: str | None) -> Any:
    value = getattr(_DEFAULT, _SPECS[name].attribute)
    if name == "batchMaxSize":
        return min(value, batch_limit(provider)[0])
    return value


def validate_field(name: str, value: Any, *, provider: str | None = None) -> Any:
    """Strictly check one field and return its normalized value.

    Raises ConfigValidationError({name: message}) for a bad value or an unknown field name.
    `provider` bounds batchMaxSize by that provider's per-batch request limit.
    """
    spec = _SPECS.get(name)
    if spec is None:
        known = ", ".join(_SPECS)
        raise ConfigValidationError({name: f"{name} is not an optimization field ({known})"})
    data = {} if value is None else {name: value}
    fields, errors = _validated(data, provider)
    if errors:
        raise ConfigValidationError(errors)
    return getattr(fields, spec.attribute)


@dataclass(frozen=True)
class OptimizationConfig:
    """The parsed optimization settings of one LLM entry. Build it with `from_dict`."""

    optimization_enabled: bool = _DEFAULT.optimization_enabled
    batching_enabled: bool = _DEFAULT.batching_enabled
    batch_max_size: int = _DEFAULT.batch_max_size
    batch_timeout: float = _DEFAULT.batch_timeout
    caching_enabled: bool = _DEFAULT.caching_enabled
    cache_ttl: int = _DEFAULT.cache_ttl
    cache_breakpoints: str | tuple[str, ...] = _DEFAULT.cache_breakpoints
    fallback_to_standard: bool = _DEFAULT.fallback_to_standard
    optimization_strategy: Strategy = _DEFAULT.optimization_strategy
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
            message = f"configuration must be a JSON object; got {shown(configuration)}"
            if strict:
                raise ConfigValidationError({"configuration": message})
            return cls(warnings=(message + "; using the defaults",))
        data = {
            key: value
            for key, value in configuration.items()
            if key in _SPECS and value is not None
        }
        fields, errors = _validated(data, provider)
        if strict and errors:
            raise ConfigValidationError(errors)
        values = dict(fields.__dict__)
        warnings: list[str] = []
        for name, message in errors.items():
            fallback = _fallback(name, provider)
            values[_SPECS[name].attribute] = fallback
            warnings.append(f"{message}; using {shown(fallback)}")
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
            fields[spec.name] = _stored(getattr(self, spec.attribute))
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
    "BATCH_MAX_SIZE_CEILING",
    "BATCH_TIMEOUT_MAX",
    "BREAKPOINT_MODES",
    "CACHE_TTLS",
    "FIELDS",
    "MAX_EXPLICIT_BREAKPOINTS",
    "MAX_MESSAGE_INDEX",
    "OPTIMIZATION_DEFAULTS",
    "STRATEGIES",
    "FieldSpec",
    "OptimizationConfig",
    "Strategy",
    "validate_field",
]
