"""`OptimizedLLMWrapper`: the optimizing behaviour that `optimize()` adds to a chat model's class.

`optimize(model, ...)` returns an instance of a subclass of `type(model)` named as that class
(`class ChatAnthropic(OptimizedLLMWrapper, ChatAnthropic)`), holding the very same field values,
so every `isinstance`, `type(llm).__name__`, field read, `model_copy`, `bind_tools` and
`with_structured_output` behaves as the plain model's. The subclass overrides only the call
paths:

- `_generate` / `_agenerate` / `_stream` / `_astream`: when caching is on, the process-wide
  `CacheManager` of this traffic plans cache breakpoints on a copy of the messages (and bound
  tools) before the model's own method sends them (Anthropic); for a provider that caches on
  its own the family rewrites the call instead: a routing hint (OpenAI), or an explicit cache
  entry named in place of the prefix it holds, where the reuse pays for it (Gemini; see
  `optimization.families`).
  Inside `async with batching():` an `_agenerate` of a batching model is queued and answered
  from a batch instead.
- `abatch` / `batch`: when batching is on, all inputs go to the provider's batch API in one
  submit (split as needed), with cache markers (or hints) too. Which batch API and client,
  and how a request is written, is the model family's (`optimization.families`).

Fallback (`fallbackToStandard`, default on): a cache-related API error is retried once without
markers (or without the named cache entry, which is then forgotten); inputs a batch did not
answer (submit refused, errored, canceled, expired) are retried through the standard API with
bounded concurrency. A request that succeeded is never resent.
With fallback off the errors surface as `CacheError` / `BatchError` (cause and positions).
Every call emits one `UsageEvent` to the recorder given to `optimize`, or, when none was given,
to the process-wide `recorders.default_recorder()` looked up at record time; recording never
blocks or raises.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

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
from langchain_core.runnables import RunnableConfig, ensure_config
from pydantic import PrivateAttr

from optimization._batch_core import BatchItemResult, BatchSubmitError, SubmittedBatch
from optimization.batch_scope import in_batching_scope, submit_to_batch
from optimization.batch_wire import BatchRequest
from optimization.cache_fallback import is_cache_error, without_cache_markers
from optimization.cache_manager import CacheManager
from optimization.capabilities import ProviderCapabilities
from optimization.config import OptimizationConfig
from optimization.exceptions import BatchError, CacheError
from optimization.families.base import BatchClient, CacheRequest, ModelFamily, model_name_of
from optimization.messages import message_to_chunk
from optimization.recorders import default_recorder
from optimization.telemetry import Mode, UsageRecorder, token_usage_from_metadata, usage_event_for

if TYPE_CHECKING:
    from optimization.batch_state import BatchStateStore

logger = logging.getLogger(__name__)

DEFAULT_FALLBACK_CONCURRENCY = 8

# Set while one of our overrides runs, so that the model's own methods calling each other
# (ChatAnthropic's _agenerate streams through _astream when `streaming=True`) plan and record once.
_IN_CALL: contextvars.ContextVar[bool] = contextvars.ContextVar("llmopt_in_call", default=False)


# What a call sends: messages, params, whether the provider may refuse what caching added, and
# the family's cache request (None for marker-planned or non-caching calls).
Planned = tuple[list[BaseMessage], dict[str, Any], bool, "CacheRequest | None"]

# One (messages, call kwargs) waiting in a batching scope, with the model that was called.
QueuedCall = tuple["OptimizedLLMWrapper", list[BaseMessage], dict[str, Any]]


@dataclass(eq=False)
class Optimization:
    """What an optimized model does: its parsed settings, capabilities and shared planner.

    Read it as `llm.llmopt`. `cache_manager` is shared by every model of the same traffic in
    this process (see `planner_memory`), so a new model per request still caches.
    """

    provider: str
    family: ModelFamily
    config: OptimizationConfig
    capabilities: ProviderCapabilities
    caching: bool
    batching: bool
    cache_manager: CacheManager | None = None
    recorder: UsageRecorder | None = None
    config_entry: str | None = None
    state_store: BatchStateStore | None = None
    fallback_concurrency: int = DEFAULT_FALLBACK_CONCURRENCY
    batch_client_options: dict[str, Any] = field(default_factory=dict)
    # The batch client of the event loop last used (httpx pools are loop-bound).
    batch_clients: dict[int, BatchClient] = field(default_factory=dict, repr=False)


# The mixin's `super()` is the optimized model's own class (ChatAnthropic...), never the
# abstract BaseChatModel, hence the `safe-super` ignores below.
class OptimizedLLMWrapper(BaseChatModel):
    """Prompt caching and batch APIs for a LangChain chat model (a mixin: use `optimize`).

    `optimize()` builds `class <Name>(OptimizedLLMWrapper, <ModelClass>)` once per model class
    and copies the given model into it; this class adds no field, only the `llmopt` settings
    (`Optimization`) and the optimized call paths.
    """

    _llmopt: Optimization = PrivateAttr()

    @property
    def llmopt(self) -> Optimization:
        """What this model optimizes and how."""
        return self._llmopt

    # --- single calls ------------------------------------------------------------------------

    def _plan(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> Planned:
        """The messages and params to send, and whether they carry something cache-related
        the provider may refuse (markers, cache params, a named cache entry)."""
        manager = self._llmopt.cache_manager
        if manager is None:
            if not self._llmopt.caching:
                return messages, kwargs, False, None
            request = self._llmopt.family.cache_request(self, messages, kwargs)
            return request.messages, request.kwargs, self._adds_to(request, kwargs), request
        plan = manager.plan(messages, kwargs.get("tools"))
        planned_kwargs = dict(kwargs)
        if plan.tools is not None:
            planned_kwargs["tools"] = plan.tools
        return list(plan.messages), planned_kwargs, plan.breakpoints > 0, None

    async def _aplan(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> Planned:
        """Async twin of `_plan` (a family may wait on the provider to prepare the call)."""
        state = self._llmopt
        if not state.caching or state.cache_manager is not None:
            return self._plan(messages, kwargs)
        request = await state.family.acache_request(self, messages, kwargs)
        return request.messages, request.kwargs, self._adds_to(request, kwargs), request

    @staticmethod
    def _adds_to(request: CacheRequest, kwargs: Mapping[str, Any]) -> bool:
        """Whether the family's request carries something the provider may refuse: a named
        cache entry, or cache params (OpenAI's) the caller did not send."""
        return request.names_entry or request.kwargs.keys() != kwargs.keys()

    def _with_cache_hints(
        self, messages: Sequence[BaseMessage], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The params of a batch request plus what raises the hit rate of a provider that
        caches on its own (the caller's own params win); unchanged for marker-planned or
        non-caching models."""
        state = self._llmopt
        if not state.caching or state.cache_manager is not None:
            return kwargs
        return state.family.cache_request(self, messages, kwargs, batch=True).kwargs

    @staticmethod
    def _refused(marked: bool, request: CacheRequest | None, exc: Exception) -> bool:
        """Whether `exc` is the provider refusing what caching added to the call."""
        if not marked:
            return False
        if request is not None and request.refused is not None:
            return request.refused(exc)
        return is_cache_error(exc)

    @staticmethod
    def _observe(request: CacheRequest | None, usage: Mapping[str, Any] | None) -> None:
        """Let the family learn from the call's usage (never breaks the call)."""
        if request is None or request.observe is None:
            return
        try:
            request.observe(usage)
        except Exception as exc:
            logger.warning("learning from the call's usage failed: %s", exc)

    def _mode(self) -> Mode:
        return "cached" if self._llmopt.caching else "standard"

    def _cache_failed(self, exc: Exception) -> None:
        if not self._llmopt.config.fallback_to_standard:
            raise CacheError(
                f"the provider refused the cache breakpoints or entry: {exc}",
                provider=self._llmopt.provider,
                model=model_name_of(self),
            ) from exc
        logger.warning("cache breakpoints or entry refused, retrying without them: %s", exc)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if _IN_CALL.get():
            return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)  # type: ignore[safe-super]
        planned, planned_kwargs, marked, request = self._plan(messages, kwargs)
        mode = self._mode()
        token = _IN_CALL.set(True)
        try:
            try:
                result = super()._generate(  # type: ignore[safe-super]
                    planned, stop=stop, run_manager=run_manager, **planned_kwargs
                )
            except Exception as exc:
                if not self._refused(marked, request, exc):
                    raise
                self._cache_failed(exc)
                mode = "fallback"
                messages, kwargs = without_cache_markers(messages, kwargs)
                result = super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)  # type: ignore[safe-super]
        finally:
            _IN_CALL.reset(token)
        self._record_result(result, mode, request)
        return result

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if _IN_CALL.get():
            return await super()._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)
        message = await self._from_batch(messages, stop, kwargs)
        if message is not None:
            return ChatResult(generations=[ChatGeneration(message=message)])
        return await self._agenerate_standard(messages, stop, run_manager, **kwargs)

    async def _from_batch(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> AIMessage | None:
        """The answer from a batch inside `batching()`, or None to call as usual."""
        if not (self._llmopt.batching and in_batching_scope()):
            return None
        # A structured-output call may ask to stream; a batch answers in one piece.
        call_kwargs = {k: v for k, v in kwargs.items() if v is not None and k != "stream"}
        if stop:
            call_kwargs["stop"] = stop
        try:
            self._llmopt.family.check_batchable(self, call_kwargs)
        except ValueError as exc:
            logger.info("call params cannot be batched (%s): standard API", exc)
            return None
        config = self._llmopt.config
        message: AIMessage = await submit_to_batch(
            self.batch_key(),
            (self, messages, call_kwargs),
            flush=self.run_batch,
            max_size=config.batch_max_size,
            wait=config.batch_timeout,
        )
        return message

    async def _agenerate_standard(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        *,
        fallback: bool = False,
        **kwargs: Any,
    ) -> ChatResult:
        planned, planned_kwargs, marked, request = await self._aplan(messages, kwargs)
        mode = self._mode()
        token = _IN_CALL.set(True)
        try:
            try:
                result = await super()._agenerate(
                    planned, stop=stop, run_manager=run_manager, **planned_kwargs
                )
            except Exception as exc:
                if not self._refused(marked, request, exc):
                    raise
                self._cache_failed(exc)
                fallback = True
                messages, kwargs = without_cache_markers(messages, kwargs)
                result = await super()._agenerate(
                    messages, stop=stop, run_manager=run_manager, **kwargs
                )
        finally:
            _IN_CALL.reset(token)
        self._record_result(result, "fallback" if fallback else mode, request)
        return result

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if _IN_CALL.get():
            yield from super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs)
            return
        planned, planned_kwargs, marked, request = self._plan(messages, kwargs)
        mode = self._mode()
        usage: UsageMetadata | None = None
        started = False
        try:
            for chunk in super()._stream(
                planned, stop=stop, run_manager=run_manager, **planned_kwargs
            ):
                started = True
                usage = _add_chunk_usage(usage, chunk)
                yield chunk
        except Exception as exc:
            if started or not self._refused(marked, request, exc):
                raise
            self._cache_failed(exc)
            mode = "fallback"
            messages, kwargs = without_cache_markers(messages, kwargs)
            for chunk in super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs):
                usage = _add_chunk_usage(usage, chunk)
                yield chunk
        self._observe(request, usage)
        self._record(usage, mode)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if _IN_CALL.get():
            async for chunk in super()._astream(
                messages, stop=stop, run_manager=run_manager, **kwargs
            ):
                yield chunk
            return
        batched = await self._from_batch(messages, stop, kwargs)
        if batched is not None:
            yield ChatGenerationChunk(message=message_to_chunk(batched))
            return
        planned, planned_kwargs, marked, request = await self._aplan(messages, kwargs)
        mode = self._mode()
        usage: UsageMetadata | None = None
        started = False
        try:
            async for chunk in super()._astream(
                planned, stop=stop, run_manager=run_manager, **planned_kwargs
            ):
                started = True
                usage = _add_chunk_usage(usage, chunk)
                yield chunk
        except Exception as exc:
            if started or not self._refused(marked, request, exc):
                raise
            self._cache_failed(exc)
            mode = "fallback"
            messages, kwargs = without_cache_markers(messages, kwargs)
            async for chunk in super()._astream(
                messages, stop=stop, run_manager=run_manager, **kwargs
            ):
                usage = _add_chunk_usage(usage, chunk)
                yield chunk
        self._observe(request, usage)
        self._record(usage, mode)

    # --- usage events ------------------------------------------------------------------------

    def _record_result(
        self, result: ChatResult, mode: Mode, request: CacheRequest | None = None
    ) -> None:
        message = result.generations[0].message if result.generations else None
        usage = getattr(message, "usage_metadata", None)
        self._observe(request, usage)
        self._record(usage, mode)

    def _record(
        self, usage_metadata: Mapping[str, Any] | None, mode: Mode, batch_id: str | None = None
    ) -> None:
        state = self._llmopt
        try:
            event = usage_event_for(
                provider=state.provider,
                model=model_name_of(self),
                mode=mode,
                usage=token_usage_from_metadata(usage_metadata),
                batch_id=batch_id,
                config_entry=state.config_entry,
            )
            recorder: UsageRecorder = state.recorder or default_recorder()
            recorder.record(event)
        except Exception as exc:  # telemetry must never break the call
            logger.warning("recording usage failed: %s", exc)

    # --- batches -----------------------------------------------------------------------------

    def batch_key(self) -> tuple[object, ...]:
        """Calls with equal keys can share one batch (same class, account, endpoint, model)."""
        return (type(self), *self._llmopt.family.client_key(self), model_name_of(self))

    def _batch_client(self) -> BatchClient:
        """A batch client on a fresh SDK client per event loop (httpx pools are loop-bound)."""
        state = self._llmopt
        loop_id = id(asyncio.get_running_loop())
        client = state.batch_clients.get(loop_id)
        if client is None:
            client = state.family.batch_client(
                self,
                state_store=state.state_store,
                max_requests=state.config.batch_max_size,
                options=state.batch_client_options,
            )
            state.batch_clients.clear()
            state.batch_clients[loop_id] = client
        return client

    async def resume_open(self) -> dict[str, list[AIMessage | BaseException]]:
        """Collect every batch the state store lists as open (submitted by an earlier process).

        Per batch id, one entry per request in its input order: the AIMessage, or a BatchError
        for a request that did not succeed. Nothing is submitted again; each answer records
        its usage event.
        """
        resumed = await self._batch_client().resume_open()
        mode = self._batch_mode()
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

    def _batch_mode(self) -> Mode:
        return "batch+cache" if self._llmopt.caching else "batch"

    async def run_batch(self, calls: Sequence[QueuedCall]) -> list[AIMessage | BaseException]:
        """Send `calls` (each model's own params) as batches through this model's key.

        Per position an AIMessage or an error; failed positions fall back to the standard API
        (each on its own model) when `fallbackToStandard` is on.
        """
        # One request template per model and distinct set of call params (usually one).
        groups: dict[tuple[int, str], tuple[dict[str, Any], list[int]]] = {}
        for position, (model, messages, kwargs) in enumerate(calls):
            kwargs = model._with_cache_hints(messages, kwargs)
            key = (id(model), repr(sorted(kwargs.items())))
            groups.setdefault(key, (kwargs, []))[1].append(position)
        by_position: dict[int, BatchRequest] = {}
        for kwargs, positions in groups.values():
            model = calls[positions[0]][0]
            manager = model._llmopt.cache_manager
            prepared = model._llmopt.family.batch_requests(
                model,
                [calls[i][1] for i in positions],
                kwargs,
                manager.plan if manager is not None else None,
            )
            for position, request in zip(positions, prepared, strict=True):
                by_position[position] = BatchRequest(f"r{position}", request.body)
        requests = [by_position[i] for i in range(len(calls))]
        return await self._send_batch(calls, requests)

    async def _send_batch(
        self, calls: Sequence[QueuedCall], requests: list[BatchRequest]
    ) -> list[AIMessage | BaseException]:
        client = self._batch_client()
        results: list[AIMessage | BaseException | None] = [None] * len(requests)
        submitted: list[SubmittedBatch] = []
        failed: dict[int, BaseException] = {}
        try:
            submitted = await client.submit(requests, meta={"provider": self._llmopt.provider})
        except BatchSubmitError as exc:
            submitted = exc.submitted
            failed.update(dict.fromkeys(exc.positions, exc))
        except BatchError as exc:  # nothing was submitted: every request still needs an answer
            failed.update(dict.fromkeys(range(len(requests)), exc))
        if submitted:
            followed = await self._follow(client, submitted, results)
            for item in await client.collect(followed):
                if item.succeeded and item.message is not None:
                    results[item.position] = item.message
                    model = calls[item.position][0]
                    model._record(
                        item.message.usage_metadata, model._batch_mode(), batch_id=item.batch_id
                    )
                else:
                    failed[item.position] = _item_error(item)
        if failed:
            await self._handle_failures(calls, failed, results)
        return [result if result is not None else BatchError("no result") for result in results]

    @staticmethod
    async def _follow(
        client: BatchClient,
        submitted: list[SubmittedBatch],
        results: list[AIMessage | BaseException | None],
    ) -> list[SubmittedBatch]:
        """The batches polled to their end. A batch that cannot be followed (it vanished, or
        the polling gave up) answers each of its positions with a BatchError: those requests
        may have been processed and billed, so they are not resent; the batch id stays in the
        state store for `resume_open`."""
        polled = await asyncio.gather(
            *(client.poll(batch.batch_id) for batch in submitted), return_exceptions=True
        )
        followed: list[SubmittedBatch] = []
        for batch, outcome in zip(submitted, polled, strict=True):
            if not isinstance(outcome, BaseException):
                followed.append(batch)
                continue
            if not isinstance(outcome, Exception):  # cancellation, interpreter exit: not ours
                raise outcome
            positions = sorted(batch.custom_ids.values())
            lost = BatchError(
                f"batch {batch.batch_id} could not be followed to its end: {outcome}",
                batch_id=batch.batch_id,
                positions=positions,
                custom_ids=list(batch.custom_ids),
            )
            lost.__cause__ = outcome
            for position in positions:
                results[position] = lost
        return followed

    async def _handle_failures(
        self,
        calls: Sequence[QueuedCall],
        failed: dict[int, BaseException],
        results: list[AIMessage | BaseException | None],
    ) -> None:
        if not self._llmopt.config.fallback_to_standard:
            for position, error in failed.items():
                results[position] = error
            return
        logger.warning(
            "%d batched request(s) failed; retrying them through the standard API", len(failed)
        )
        semaphore = asyncio.Semaphore(max(1, self._llmopt.fallback_concurrency))

        async def retry(position: int) -> None:
            model, messages, call_kwargs = calls[position]
            kwargs = dict(call_kwargs)
            stop = kwargs.pop("stop", None)
            async with semaphore:
                try:
                    result = await model._agenerate_standard(
                        messages, stop, None, fallback=True, **kwargs
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
        """Through the provider's batch API when batching is on, else as the model would."""
        if not inputs or not self._llmopt.batching:
            return await super().abatch(
                inputs, config, return_exceptions=return_exceptions, **kwargs
            )
        call_kwargs = {k: v for k, v in kwargs.items() if v is not None}
        try:
            self._llmopt.family.check_batchable(self, call_kwargs)
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
        outcomes = await self.run_batch(
            [(self, messages, call_kwargs) for messages in conversations]
        )
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
            if self._llmopt.batching and inputs:
                return asyncio.run(
                    self.abatch(inputs, config, return_exceptions=return_exceptions, **kwargs)
                )
        return super().batch(inputs, config, return_exceptions=return_exceptions, **kwargs)


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


__all__ = ["Optimization", "OptimizedLLMWrapper", "model_name_of"]
