"""What the sync and async OpenAI batch clients share besides the flows: their limits, rules,
endpoint, input files and status reading (`OpenAIBatchCore`), and how a results file that
broke off is reported."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import openai

from optimization._batch_core import BatchClientCore, BatchStatus
from optimization._openai_batch_io import OPENAI_RULES, openai_batch_status
from optimization.batch_create import CreationRules
from optimization.batch_wire import BatchRequest, split_requests
from optimization.capabilities import OPENAI_BATCH_MAX_BYTES, OPENAI_BATCH_MAX_REQUESTS
from optimization.openai_batch_wire import LINE_FRAME, JsonlBody

OPENAI_ENDPOINT = "/v1/chat/completions"
AZURE_ENDPOINT = "/chat/completions"
OPENAI_RESPONSES_ENDPOINT = "/v1/responses"
AZURE_RESPONSES_ENDPOINT = "/responses"

ClientT = TypeVar("ClientT")
SleepT = TypeVar("SleepT")


def default_endpoint(client: Any, *, responses: bool = False) -> str:
    """The chat completions (or, with `responses`, Responses API) endpoint batches of `client`
    (an OpenAI or Azure OpenAI SDK client, sync or async) name: Azure's have no `/v1`."""
    if isinstance(client, openai.AsyncAzureOpenAI | openai.AzureOpenAI):
        return AZURE_RESPONSES_ENDPOINT if responses else AZURE_ENDPOINT
    return OPENAI_RESPONSES_ENDPOINT if responses else OPENAI_ENDPOINT


class OpenAIBatchCore(BatchClientCore[ClientT, SleepT]):
    """The OpenAI Batch API's side of a batch client, sync or async.

    `endpoint` defaults to the client's chat completions endpoint (`default_endpoint`). See
    `BatchClientCore` for the other options.
    """

    rules: ClassVar[CreationRules] = OPENAI_RULES
    provider_max_requests: ClassVar[int] = OPENAI_BATCH_MAX_REQUESTS
    provider_max_bytes: ClassVar[int] = OPENAI_BATCH_MAX_BYTES

    def __init__(self, client: ClientT, *, endpoint: str | None = None, **options: Any) -> None:
        options.setdefault("max_requests", OPENAI_BATCH_MAX_REQUESTS)
        options.setdefault("max_bytes", OPENAI_BATCH_MAX_BYTES)
        super().__init__(client, **options)
        self.endpoint = endpoint or default_endpoint(client)

    def _split(self, requests: Sequence[BatchRequest]) -> list[range]:
        return split_requests(
            requests,
            self.max_requests,
            self.max_bytes,
            frame=LINE_FRAME + len(self.endpoint),
            envelope=0,
        )

    def _body(self, requests: Sequence[BatchRequest], positions: range) -> JsonlBody:
        return JsonlBody(requests, positions, self.endpoint)

    def _status_of(self, batch: Any) -> BatchStatus:
        return openai_batch_status(batch)


def file_broke_off(file_id: str, request: Any, exc: Exception) -> openai.APIConnectionError:
    """A connection lost in the middle of a file's body, raised like one lost before it."""
    return openai.APIConnectionError(message=f"file {file_id} broke off: {exc}", request=request)


__all__ = [
    "AZURE_ENDPOINT",
    "AZURE_RESPONSES_ENDPOINT",
    "OPENAI_ENDPOINT",
    "OPENAI_RESPONSES_ENDPOINT",
    "OpenAIBatchCore",
    "default_endpoint",
    "file_broke_off",
]
