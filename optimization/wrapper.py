"""`OptimizedLLMWrapper`: any LangChain chat model, with prompt caching and Message Batches.

- `ainvoke` / `invoke` / `astream` / `stream`: when `OptimizationConfig.wants_caching` says so,
  the `CacheManager` plans cache breakpoints on a copy of the messages (and bound tools) before
  the base model sends them. With strategy `batch_only` and batching wanted, single async calls
  are queued in a `BatchAccumulator` instead and answered from a Message Batch (cheaper, slower).
- `abatch` / `batch`: when `wants_batching` says so and the base model is `ChatAnthropic`, all
  inputs go to the Message Batches API in one submit (split as needed), with cache markers too.
- Everything else is the base model's: `bind_tools`, `with_structured_output`, `_llm_type`,
  `_identifying_params`, callbacks and `usage_metadata`.

Fallback (`fallbackToStandard`, default on): a cache-related API error is retried once without
markers; inputs a batch did not answer (submit refused, errored, canceled, expired) are retried
through the standard API with bounded concurrency. A request that succeeded is never resent.
With fallback off the errors surface as `CacheError` / `BatchError` (cause and positions).
Every call emits one `UsageEvent` to `recorder`, or, when none was given, to the process-wide
`recorders.default_recorder()` looked up at record time; recording never blocks or raises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, cast

import anthropic
from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, LLMResult
from langchain_core.runnables import (
    Runnable,
    RunnableBinding,
    RunnableConfig,
    RunnableParallel,
    RunnableSequence,
    ensure_config,
)
from pydantic import ConfigDict, Field, PrivateAttr

from optimization.accumulator import BatchAccumulator
from optimization.batch_client import (
    AnthropicBatchClient,
    BatchItemResult,
    BatchRequest,
    BatchSubmitError,
    SubmittedBatch,
    prepare_requests,
)
from optimization.cache_manager import MARKER
from optimization.capabilities import ProviderCapabilities
from optimization.config import FIELDS, OptimizationConfig
from optimization.exceptions import BatchError, CacheError
from optimization.recorders import default_recorder
from optimization.telemetry import Mode, UsageRecorder, token_usage_from_metadata, usage_event_for

logger = logging.getLogger(__name__)

ANTHROPIC_BATCH_API = "anthropic_message_batches"
_OPTIMIZATION_KEYS = frozenset(spec.name for spec in FIELDS)
DEFAULT_FALLBACK_CONCURRENCY = 8


def _model_name(model: BaseChatModel) -> str:
    for attribute in ("model", "model_name", "model_id", "deployment_name"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return "unknown"


def _is_cache_error(exc: BaseException) -> bool:
    """A request the provider refused because of its cache_control markers."""
    return isinstance(exc, anthropic.BadRequestError) and "cache_control" in str(exc)


class OptimizedLLMWrapper(BaseChatModel):
    """A chat model that applies prompt caching and batching to `base_model`, per configuration.

    `OptimizedLLMWrapper(base_model, provider, configuration)` or the same as keywords.
    `configuration` is the `llm[i].configuration` dict: only its optimization fields are kept
    (read tolerantly), so secrets such as `apiKey` never travel with the wrapper when it is
    pickled or serialized (the base model serializes its own key as a secret reference).
    `recorder` receives usage events (default: `recorders.default_recorder()`), `state_store`
    remembers submitted batches (default: in memory), `batch_client_options` and
    `accumulator_options` are passed to `AnthropicBatchClient` / `BatchAccumulator`
    (e.g. an injected `sleep`).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    base_model: BaseChatModel
    provider: str
    configuration: dict[str, Any] = Field(default_factory=dict, repr=False)
    recorder: Any = Field(default=None, exclude=True, repr=False)
    state_store: Any = Field(default=None, exclude=True, repr=False)
    config_entry: str | None = None
    fallback_concurrency: int = DEFAULT_FALLBACK_CONCURRENCY
    batch_client_options: dict[str, Any] = Field(default_factory=dict, exclude=True)
    accumulator_options: dict[str, Any] = Field(default_factory=dict, exclude=True)

    _config: OptimizationConfig = PrivateAttr()
    _capabilities: ProviderCapabilities = PrivateAttr()
    _cache_manager: Any = PrivateAttr(default=None)
    _batch_clients: dict[int, AnthropicBatchClient] = PrivateAttr(default_factory=dict)
    _accumulators: dict[
        int, BatchAccumulator[tuple[list[BaseMessage], dict[str, Any]], AIMessage]
    ] = PrivateAttr(default_factory=dict)

    def __init__(
        self,
        base_model: BaseChatModel | None = None,
        provider: str | None = None,
        configuration: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if base_model is not None:
            kwargs["base_model"] = base_model
        if provider is not None:
            kwargs["provider"] = provider
        if configuration is not None:
            kwargs["configuration"] = configuration
        if "configuration" in kwargs:
            kwargs["configuration"] = {
                key: value
                for key, value in dict(kwargs["configuration"]).items()
                if key in _OPTIMIZATION_KEYS
            }
        super().__init__(**kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the constructor call that rebuilds it (parsed state is derived again).

        Pickles when the base model does (ChatAnthropic does until its SDK client was built).
        """
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        return (_rebuild, (type(self), fields))

    def model_post_init(self, context: Any, /) -> None:
        """Parse the configuration and detect what the provider and model support."""
        super().model_post_init(context)
        self._config = OptimizationConfig.from_dict(self.configuration, provider=self.provider)
        for warning in self._config.warnings:
            logger.warning("optimization config for %s: %s", self.provider, warning)
        self._capabilities = ProviderCapabilities.detect(
            self.provider, _model_name(self.base_model)
        )
        if self.caching:
            from optimization.cache_manager import CacheManager

            self._cache_manager = CacheManager(self._capabilities, self._config)

    # --- what is on --------------------------------------------------------------------------

    @property
    def optimization_config(self) -> OptimizationConfig:
        """The parsed optimization configuration."""
        return self._config

    @property
    def capabilities(self) -> ProviderCapabilities:
        """What the provider and model support."""
        return self._capabilities

    @property
    def caching(self) -> bool:
        """True when calls get cache breakpoints."""
        return self._config.wants_caching(self._capabilities)

    @property
    def batching(self) -> bool:
        """True when `abatch` goes through a batch API this wrapper has a client for."""
        from langchain_anthropic import ChatAnthropic

        return (
            self._config.wants_batching(self._capabilities)
            and self._capabilities.batch_api == ANTHROPIC_BATCH_API
            and isinstance(self.base_model, ChatAnthropic)
        )

    # --- the base model's identity -----------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return self.base_model._llm_type

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return dict(self.base_model._identifying_params)

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        return self.base_model._get_ls_params(stop=stop, **kwargs)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """Serializable like its base model (the base serializes its own secrets masked)."""
        return True

    def bind_tools(
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools the way the base model does, keeping calls on this wrapper."""
        return cast(
            "Runnable[LanguageModelInput, AIMessage]",
            self._rebind(self.base_model.bind_tools(tools, **kwargs)),
        )

    def with_structured_output(
        self, schema: Any, *, include_raw: bool = False, **kwargs: Any
    ) -> Any:
        """Structured output exactly as the base model builds it, with calls on this wrapper."""
        return self._rebind(
            self.base_model.with_structured_output(schema, include_raw=include_raw, **kwargs)
        )

    def _rebind(self, runnable: Any) -> Any:
        """The same runnable with every use of the base model replaced by this wrapper."""
        if runnable is self.base_model:
            return self
        if isinstance(runnable, RunnableBinding):
            bound = self._rebind(runnable.bound)
            if bound is runnable.bound:
                return runnable
            return RunnableBinding(
                bound=bound,
                kwargs=runnable.kwargs,
                config=runnable.config,
                config_factories=runnable.config_factories,
                custom_input_type=runnable.custom_input_type,
                custom_output_type=runnable.custom_output_type,
            )
        if isinstance(runnable, RunnableSequence):
            return RunnableSequence(*[self._rebind(step) for step in runnable.steps])
        if isinstance(runnable, RunnableParallel):
            return RunnableParallel(
                {key: self._rebind(step) for key, step in runnable.steps__.items()}
            )
        return runnable

    # --- single calls ------------------------------------------------------------------------

    def _plan(
        self, messages: list[BaseMessage], kwargs: dict[str, Any]
    ) -> tuple[list[BaseMessage], dict[str, Any], bool]:
        if self._cache_manager is None:
            return messages, kwargs, False
        plan = self._cache_manager.plan(messages, kwargs.get("tools"))
        planned_kwargs = dict(kwargs)
        if plan.tools is not None:
            planned_kwargs["tools"] = plan.tools
        return list(plan.messages), planned_kwargs, plan.breakpoints > 0

    def _cache_failed(self, exc: Exception) -> None:
        if not self._config.fallback_to_standard:
            raise CacheError(
                f"the provider refused the cache breakpoints: {exc}",
                provider=self.provider,
                model=_model_name(self.base_model),
            ) from exc
        logger.warning("cache breakpoints refused, retrying without them: %s", exc)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        planned, planned_kwargs, marked = self._plan(messages, kwargs)
        mode: Mode = "cached" if self._cache_manager is not None else "standard"
        try:
            result = self.base_model._generate(
                planned, stop=stop, run_manager=run_manager, **planned_kwargs
            )
        except Exception as exc:
            if not (marked and _is_cache_error(exc)):
                raise
            self._cache_failed(exc)
            mode = "fallback"
            messages, kwargs = _without_cache_markers(messages, kwargs)
            result = self.base_model._generate(
                messages, stop=stop, run_manager=run_manager, **kwargs
            )
        self._record_result(result, mode)
        return result

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.batching and self._config.optimization_strategy == "batch_only":
            if stop:
                kwargs = {**kwargs, "stop": stop}
            message = await self._get_accumulator().submit((messages, kwargs))
            return ChatResult(generations=[ChatGeneration(message=message)])
        return await self._agenerate_standard(messages, stop, run_manager, **kwargs)

    async def _agenerate_standard(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        *,
        fallback: bool = False,
        **kwargs: Any,
    ) -> ChatResult:
        planned, planned_kwargs, marked = self._plan(messages, kwargs)
        mode: Mode = "cached" if self._cache_manager is not None else "standard"
        try:
            result = await self.base_model._agenerate(
                planned, stop=stop, run_manager=run_manager, **planned_kwargs
            )
        except Exception as exc:
            if not (marked and _is_cache_error(exc)):
                raise
            self._cache_failed(exc)
            fallback = True
            messages, kwargs = _without_cache_markers(messages, kwargs)
            result = await self.base_model._agenerate(
                messages, stop=stop, run_manager=run_manager, **kwargs
            )
        self._record_result(result, "fallback" if fallback else mode)
        return result

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        planned, planned_kwargs, marked = self._plan(messages, kwargs)
        mode: Mode = "cached" if self._cache_manager is not None else "standard"
        usage: UsageMetadata | None = None
        started = False
        try:
            for chunk in self.base_model._stream(
                planned, stop=stop, run_manager=run_manager, **planned_kwargs
            ):
                started = True
                usage = _add_chunk_usage(usage, chunk)
                yield chunk
        except Exception as exc:
            if started or not (marked and _is_cache_error(exc)):
                raise
            self._cache_failed(exc)
            mode = "fallback"
            messages, kwargs = _without_cache_markers(messages, kwargs)
            for chunk in self.base_model._stream(
                messages, stop=stop, run_manager=run_manager, **kwargs
            ):
                usage = _add_chunk_usage(usage, chunk)
                yield chunk
        self._record(usage, mode)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        planned, planned_kwargs, marked = self._plan(messages, kwargs)
        mode: Mode = "cached" if self._cache_manager is not None else "standard"
        usage: UsageMetadata | None = None
        started = False
        try:
            async for chunk in self.base_model._astream(
                planned, stop=stop, run_manager=run_manager, **planned_kwargs
            ):
                started = True
                usage = _add_chunk_usage(usage, chunk)
                yield chunk
        except Exception as exc:
            if started or not (marked and _is_cache_error(exc)):
                raise
            self._cache_failed(exc)
            mode = "fallback"
            messages, kwargs = _without_cache_markers(messages, kwargs)
            async for chunk in self.base_model._astream(
                messages, stop=stop, run_manager=run_manager, **kwargs
            ):
                usage = _add_chunk_usage(usage, chunk)
                yield chunk
        self._record(usage, mode)

    # --- usage events ------------------------------------------------------------------------

    def _record_result(self, result: ChatResult, mode: Mode) -> None:
        message = result.generations[0].message if result.generations else None
        usage = getattr(message, "usage_metadata", None)
        self._record(usage, mode)

    def _record(
        self, usage_metadata: Mapping[str, Any] | None, mode: Mode, batch_id: str | None = None
    ) -> None:
        try:
            event = usage_event_for(
                provider=self.provider,
                model=_model_name(self.base_model),
                mode=mode,
                usage=token_usage_from_metadata(usage_metadata),
                batch_id=batch_id,
                config_entry=self.config_entry,
            )
            recorder: UsageRecorder = self.recorder or default_recorder()
            recorder.record(event)
        except Exception as exc:  # telemetry must never break the call
            logger.warning("recording usage failed: %s", exc)

    # --- batches -----------------------------------------------------------------------------

    def _batch_client(self) -> AnthropicBatchClient:
        """A batch client on a fresh SDK client per event loop (httpx pools are loop-bound)."""
        loop_id = id(asyncio.get_running_loop())
        client = self._batch_clients.get(loop_id)
        if client is None:
            params = dict(cast(Any, self.base_model)._client_params)
            options: dict[str, Any] = {"state_store": self.state_store}
            options.update(self.batch_client_options)
            client = AnthropicBatchClient(
                anthropic.AsyncAnthropic(**params),
                model=_model_name(self.base_model),
                max_requests=self._config.batch_max_size,
                **options,
            )
            self._batch_clients = {loop_id: client}
        return client

    def _get_accumulator(
        self,
    ) -> BatchAccumulator[tuple[list[BaseMessage], dict[str, Any]], AIMessage]:
        """The accumulator of the running event loop (its futures and timer are loop-bound)."""
        loop_id = id(asyncio.get_running_loop())
        accumulator = self._accumulators.get(loop_id)
        if accumulator is None:
            accumulator = BatchAccumulator(
                self._flush_accumulated,
                max_size=self._config.batch_max_size,
                timeout=self._config.batch_timeout,
                **self.accumulator_options,
            )
            self._accumulators[loop_id] = accumulator
        return accumulator

    async def _flush_accumulated(
        self, items: list[tuple[list[BaseMessage], dict[str, Any]]]
    ) -> list[AIMessage | BaseException]:
        return await self._run_batch(
            [messages for messages, _ in items], [kwargs for _, kwargs in items]
        )

    async def aclose(self) -> None:
        """Flush single calls still waiting in this event loop's accumulator."""
        accumulator = self._accumulators.pop(id(asyncio.get_running_loop()), None)
        if accumulator is not None:
            await accumulator.aclose()

    async def resume_open(self) -> dict[str, list[AIMessage | BaseException]]:
        """Collect every batch the state store lists as open (submitted by an earlier process).

        Per batch id, one entry per request in its input order: the AIMessage, or a BatchError
        for a request that did not succeed. Nothing is submitted again; each answer records
        its usage event.
        """
        resumed = await self._batch_client().resume_open()
        mode: Mode = "batch+cache" if self._cache_manager is not None else "batch"
        answers: dict[str, list[AIMessage | BaseException]] = {}
        for batch_id, items in resumed.items():
            answers[batch_id] = []
            for item in items:
                if item.succeeded and item.message is not None:
                    self._record(item.message.usage_metadata, mode, batch_id=batch_id)
                    answers[batch_id].append(item.message)
                else:
                    answers[batch_id].append(_item_error(item))
        return answers

    def _template(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        from langchain_anthropic import ChatAnthropic

        from optimization.messages import request_template

        params = dict(kwargs)
        stop = params.pop("stop", None)
        return request_template(cast(ChatAnthropic, self.base_model), stop=stop, **params)

    async def _run_batch(
        self, conversations: list[list[BaseMessage]], kwargs_list: list[dict[str, Any]]
    ) -> list[AIMessage | BaseException]:
        """Send `conversations` as Message Batches; per position an AIMessage or an error."""
        plan = self._cache_manager.plan if self._cache_manager is not None else None
        requests: list[BatchRequest] = []
        groups: dict[str, list[int]] = {}
        for position, kwargs in enumerate(kwargs_list):
            groups.setdefault(repr(sorted(kwargs.items())), []).append(position)
        # One template per distinct set of call params (usually exactly one).
        by_position: dict[int, BatchRequest] = {}
        for positions in groups.values():
            template = self._template(kwargs_list[positions[0]])
            prepared = prepare_requests([conversations[i] for i in positions], template, plan=plan)
            for position, request in zip(positions, prepared, strict=True):
                by_position[position] = BatchRequest(f"r{position}", request.body)
        requests = [by_position[i] for i in range(len(conversations))]
        return await self._send_batch(conversations, kwargs_list, requests)

    async def _send_batch(
        self,
        conversations: list[list[BaseMessage]],
        kwargs_list: list[dict[str, Any]],
        requests: list[BatchRequest],
    ) -> list[AIMessage | BaseException]:
        client = self._batch_client()
        results: list[AIMessage | BaseException | None] = [None] * len(requests)
        submitted: list[SubmittedBatch] = []
        failed: dict[int, BaseException] = {}
        try:
            submitted = await client.submit(requests, meta={"provider": self.provider})
        except BatchSubmitError as exc:
            submitted = exc.submitted
            failed.update(dict.fromkeys(exc.positions, exc))
        except BatchError as exc:  # nothing was submitted: every request still needs an answer
            failed.update(dict.fromkeys(range(len(requests)), exc))
        if submitted:
            # A poll that cannot finish raises: those requests may have succeeded, so they
            # are not resent; the batch id stays in the state store for `resume`.
            await asyncio.gather(*(client.poll(batch.batch_id) for batch in submitted))
            items = await client.collect(submitted)
            mode: Mode = "batch+cache" if self._cache_manager is not None else "batch"
            for item in items:
                if item.succeeded and item.message is not None:
                    results[item.position] = item.message
                    self._record(item.message.usage_metadata, mode, batch_id=item.batch_id)
                else:
                    failed[item.position] = _item_error(item)
        if failed:
            await self._handle_failures(conversations, kwargs_list, failed, results)
        return [result if result is not None else BatchError("no result") for result in results]

    async def _handle_failures(
        self,
        conversations: list[list[BaseMessage]],
        kwargs_list: list[dict[str, Any]],
        failed: dict[int, BaseException],
        results: list[AIMessage | BaseException | None],
    ) -> None:
        if not self._config.fallback_to_standard:
            for position, error in failed.items():
                results[position] = error
            return
        logger.warning(
            "%d batched request(s) failed; retrying them through the standard API", len(failed)
        )
        semaphore = asyncio.Semaphore(max(1, self.fallback_concurrency))

        async def retry(position: int) -> None:
            kwargs = dict(kwargs_list[position])
            stop = kwargs.pop("stop", None)
            async with semaphore:
                try:
                    result = await self._agenerate_standard(
                        conversations[position], stop, None, fallback=True, **kwargs
                    )
                    results[position] = cast(AIMessage, result.generations[0].message)
                except Exception as exc:
                    results[position] = exc

        await asyncio.gather(*(retry(position) for position in sorted(failed)))

    async def abatch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[AIMessage]:
        """Through the Message Batches API when batching is on, else as the base model would."""
        if not inputs or not self.batching:
            return await super().abatch(
                inputs, config, return_exceptions=return_exceptions, **kwargs
            )
        call_kwargs = {k: v for k, v in kwargs.items() if v is not None}
        try:
            self._template(call_kwargs)
        except ValueError as exc:
            logger.warning("these call params cannot be batched (%s): using the standard API", exc)
            return await super().abatch(
                inputs, config, return_exceptions=return_exceptions, **kwargs
            )
        conversations = [self._convert_input(value).to_messages() for value in inputs]
        run_config = ensure_config(config[0] if isinstance(config, list) else config)
        callback_manager = AsyncCallbackManager.configure(
            run_config.get("callbacks"),
            self.callbacks,
            self.verbose,
            run_config.get("tags"),
            self.tags,
            run_config.get("metadata"),
            self.metadata,
        )
        run_managers = await callback_manager.on_chat_model_start(
            self._serialized, conversations, invocation_params=self._identifying_params
        )
        outcomes = await self._run_batch(conversations, [call_kwargs] * len(conversations))
        errors: dict[int, BaseException] = {}
        for position, (manager, outcome) in enumerate(zip(run_managers, outcomes, strict=True)):
            if isinstance(outcome, BaseException):
                errors[position] = outcome
                await manager.on_llm_error(outcome)
            else:
                await manager.on_llm_end(LLMResult(generations=[[ChatGeneration(message=outcome)]]))
        if errors and not return_exceptions:
            first = errors[min(errors)]
            batch_id = getattr(first, "batch_id", None)
            raise BatchError(
                f"{len(errors)} of {len(inputs)} batched request(s) failed: {first}",
                batch_id=batch_id,
                positions=sorted(errors),
                custom_ids=[f"r{position}" for position in sorted(errors)],
                outcomes={p: _outcome_of(p, e) for p, e in errors.items()},
            ) from first
        return cast("list[AIMessage]", outcomes)

    def batch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[AIMessage]:
        """Sync twin of `abatch` (runs it on its own event loop when none is running)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self.batching and inputs:
                return asyncio.run(
                    self.abatch(inputs, config, return_exceptions=return_exceptions, **kwargs)
                )
        return super().batch(inputs, config, return_exceptions=return_exceptions, **kwargs)


def _rebuild(cls: type[OptimizedLLMWrapper], fields: dict[str, Any]) -> OptimizedLLMWrapper:
    return cls(**fields)


def _strip_block(block: Any) -> Any:
    if isinstance(block, str):
        return block.replace(MARKER, "")
    if not isinstance(block, Mapping):
        return block
    stripped = {key: value for key, value in block.items() if key != "cache_control"}
    if isinstance(stripped.get("text"), str):
        stripped["text"] = stripped["text"].replace(MARKER, "")
    return stripped


def _without_cache_markers(
    messages: Sequence[BaseMessage], kwargs: Mapping[str, Any]
) -> tuple[list[BaseMessage], dict[str, Any]]:
    """Copies of `messages` and call kwargs without any cache breakpoint, the caller's included.

    Used to retry a request the provider refused because of its breakpoints.
    """
    cleaned: list[BaseMessage] = []
    for message in messages:
        content = message.content
        if isinstance(content, str):
            new_content: Any = content.replace(MARKER, "")
        else:
            new_content = [_strip_block(block) for block in content]
        cleaned.append(message.model_copy(update={"content": new_content}))
    new_kwargs = dict(kwargs)
    tools = new_kwargs.get("tools")
    if isinstance(tools, Sequence):
        new_kwargs["tools"] = [_strip_block(tool) for tool in tools]
    return cleaned, new_kwargs


def _add_chunk_usage(
    total: UsageMetadata | None, chunk: ChatGenerationChunk
) -> UsageMetadata | None:
    usage = getattr(chunk.message, "usage_metadata", None)
    if usage is None:
        return total
    return usage if total is None else add_usage(total, usage)


def _outcome_of(position: int, error: BaseException) -> str:
    if isinstance(error, BatchError):
        return error.outcomes.get(position, "not_submitted")
    return type(error).__name__


def _item_error(item: BatchItemResult) -> BatchError:
    return BatchError(
        f"batch request {item.custom_id} {item.outcome}: {item.error}",
        batch_id=item.batch_id,
        positions=[item.position],
        custom_ids=[item.custom_id],
        outcomes={item.position: item.outcome},
    )


__all__ = ["OptimizedLLMWrapper"]
