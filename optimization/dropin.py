"""`optimize` and `optimized_factory`: how a backend's own chat models get cheaper.

A backend keeps building its models as it always has (PipesHub: `get_generator_model` in
`app/utils/aimodels.py`) and passes each through `optimize`, usually by decorating the factory
with `optimized_factory`. Nothing changes unless something is optimized: `optimize` returns the
very object it was given when the entry's master switch is off, when neither caching nor
batching applies to this provider, model and class, or when the strategy excludes what applies.
Otherwise it returns a copy of the model in a subclass of its own class, named as that class
(see `optimization.wrapper`), so code that dispatches on `isinstance`, `type(llm).__name__` or
the model's fields takes the branch it takes for the plain model.

Caching and batching here speak Anthropic's Messages API, so they apply to `ChatAnthropic`
models (PipesHub's anthropic entries, and Claude on Azure AI Foundry); every other class is
returned untouched.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast, overload

from langchain_core.language_models.chat_models import BaseChatModel

from optimization._pydantic_adapter import copied_as
from optimization.capabilities import ProviderCapabilities
from optimization.config import OPTIMIZATION_DEFAULTS, OptimizationConfig
from optimization.families import family_of, model_name_of
from optimization.planner_memory import shared_cache_manager
from optimization.telemetry import UsageRecorder
from optimization.wrapper import Optimization, OptimizedLLMWrapper

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_classes: dict[type[BaseChatModel], type[OptimizedLLMWrapper]] = {}
_classes_lock = threading.Lock()
# Config warnings already logged: a backend building a model per request logs each once.
_warned: set[str] = set()
_MAX_WARNED = 1024


def configuration_of(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `configuration` dict of an `llm` entry, or `config` itself when it is one."""
    inner = config.get("configuration")
    return inner if isinstance(inner, Mapping) else config


def is_optimized(model: object) -> bool:
    """True for a model returned optimized by `optimize`."""
    return isinstance(model, OptimizedLLMWrapper)


def plain_model(model: BaseChatModel) -> BaseChatModel:
    """The model without optimization: a copy in its original class (itself when not optimized)."""
    if not isinstance(model, OptimizedLLMWrapper):
        return model
    plain_class = cast(type[BaseChatModel], type(model).__mro__[2])
    return copied_as(model, plain_class, private={"_llmopt": None})


def optimize(
    model: BaseChatModel,
    provider: str,
    config: Mapping[str, Any],
    *,
    recorder: UsageRecorder | None = None,
    config_entry: str | None = None,
    state_store: Any = None,
    batch_client_options: Mapping[str, Any] | None = None,
) -> BaseChatModel:
    """`model` with prompt caching and batching as the entry's configuration asks.

    `config` is the `llm` entry (`{"provider", "configuration", ...}`) or its `configuration`
    dict; optimization fields are read tolerantly (bad values fall back to defaults with a
    warning). Returns `model` itself when nothing applies; never raises for a bad optimization
    config. `recorder` receives one usage event per call (default: the process's recorder),
    `config_entry` labels those events, `state_store` remembers submitted batches.
    """
    base = plain_model(model)
    try:
        parsed = OptimizationConfig.from_dict(configuration_of(config), provider=provider)
        if not parsed.optimization_enabled:
            return base
        settings = _settings(base, provider, parsed)
        if settings is None:
            return base
        settings.recorder = recorder
        settings.config_entry = config_entry
        settings.state_store = state_store
        settings.batch_client_options = dict(batch_client_options or {})
        return _optimized_copy(base, settings)
    except Exception as exc:
        _warn_once(
            f"optimization for {provider}/{model_name_of(base)} is unusable "
            f"({type(exc).__name__}: {exc}): using the plain model"
        )
        return base


def _settings(
    model: BaseChatModel, provider: str, config: OptimizationConfig
) -> Optimization | None:
    """What applies to this model, or None when nothing does."""
    for warning in config.warnings:
        _warn_once(f"optimization config for {provider}: {warning}")
    family = family_of(model, provider)
    if family is None:
        return None
    capabilities = ProviderCapabilities.detect(provider, model_name_of(model))
    # A family that marks breakpoints caches only where the provider takes them, and the
    # others only where the provider caches on its own.
    marker_type = "explicit" if family.marks_cache else "automatic"
    caching = config.wants_caching(capabilities) and capabilities.cache_marker_type == marker_type
    batching = config.wants_batching(capabilities) and family.can_batch(capabilities)
    if not (caching or batching):
        return None
    manager = None
    if caching and family.marks_cache:
        manager = shared_cache_manager(capabilities, config, endpoint=family.endpoint(model))
    return Optimization(
        provider=provider,
        family=family,
        config=config,
        capabilities=capabilities,
        caching=caching,
        batching=batching,
        cache_manager=manager,
    )


def _optimized_class(cls: type[BaseChatModel]) -> type[OptimizedLLMWrapper]:
    with _classes_lock:
        optimized = _classes.get(cls)
        if optimized is None:
            namespace = {
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
                "__doc__": cls.__doc__,
                "__reduce__": _reduce,
            }
            optimized = cast(
                type[OptimizedLLMWrapper],
                type(cls.__name__, (OptimizedLLMWrapper, cls), namespace),
            )
            _classes[cls] = optimized
        return optimized


def _reduce(model: OptimizedLLMWrapper) -> tuple[Any, ...]:
    """Pickle an optimized model as the plain model plus the settings `optimize` applies again.

    Only the optimization fields travel: the entry's own (apiKey...) never do.
    """
    state = model.llmopt
    configuration = {
        key: value for key, value in state.config.to_dict().items() if key in OPTIMIZATION_DEFAULTS
    }
    options = {
        "recorder": state.recorder,
        "config_entry": state.config_entry,
        "state_store": state.state_store,
    }
    return (_reoptimize, (plain_model(model), state.provider, configuration, options))


def _reoptimize(
    model: BaseChatModel,
    provider: str,
    configuration: dict[str, Any],
    options: dict[str, Any],
) -> BaseChatModel:
    return optimize(model, provider, configuration, **options)


def _optimized_copy(model: BaseChatModel, settings: Optimization) -> OptimizedLLMWrapper:
    """A shallow copy of `model` (same field values, same SDK client) in its optimized class."""
    copy = copied_as(model, _optimized_class(type(model)), private={"_llmopt": settings})
    settings.family.own_resources(copy)
    return copy


def _warn_once(message: str) -> None:
    if message in _warned:
        return
    if len(_warned) < _MAX_WARNED:
        _warned.add(message)
    logger.warning("%s", message)


@overload
def optimized_factory(factory: F, /) -> F: ...


@overload
def optimized_factory(
    factory: None = None, /, *, recorder: UsageRecorder | None = None
) -> Callable[[F], F]: ...


def optimized_factory(
    factory: F | None = None, /, *, recorder: UsageRecorder | None = None
) -> F | Callable[[F], F]:
    """Decorate a model factory `(provider, config, ...)` so that what it returns is optimized.

    Works on sync and async factories with PipesHub's signature
    `(provider, config, model_name=None, reasoning_effort=None)`, however they are called
    (positionally, by keyword, in a thread). The factory's own errors propagate unchanged.
    Use as `@optimized_factory` or `@optimized_factory(recorder=...)`.
    """
    if factory is None:
        return lambda function: optimized_factory(function, recorder=recorder)  # type: ignore[call-overload]
    function = factory
    signature = inspect.signature(function)
    provider_arg, config_arg = list(signature.parameters)[:2]

    def optimized(result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not isinstance(result, BaseChatModel):
            return result
        arguments = signature.bind(*args, **kwargs).arguments
        return optimize(result, arguments[provider_arg], arguments[config_arg], recorder=recorder)

    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def async_factory(*args: Any, **kwargs: Any) -> Any:
            return optimized(await function(*args, **kwargs), args, kwargs)

        return cast(F, async_factory)

    @functools.wraps(function)
    def sync_factory(*args: Any, **kwargs: Any) -> Any:
        return optimized(function(*args, **kwargs), args, kwargs)

    return cast(F, sync_factory)


__all__ = [
    "configuration_of",
    "is_optimized",
    "optimize",
    "optimized_factory",
    "plain_model",
]
