"""The provider as a worker task sees it: the sync SDK and batch clients for one run, and which
provider errors are worth trying again later."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

import anthropic
from django.conf import settings

from llmopt_admin.batches.models import (
    BatchJob,
)
from llmopt_admin.batches.state_store import DjangoBatchStateStore
from optimization._anthropic_adapter import sdk_would_retry
from optimization.batch_client_sync import SyncAnthropicBatchClient

logger = logging.getLogger(__name__)


T = TypeVar("T")


class Provider:
    """The SDK and batch clients for one task run; close() releases their connections."""

    def __init__(self, job: BatchJob, positions: dict[str, int] | None = None) -> None:
        self.sdk = anthropic.Anthropic(
            base_url=settings.ANTHROPIC_BASE_URL,
            api_key=settings.ANTHROPIC_API_KEY,
            max_retries=settings.LLMOPT_ANTHROPIC_MAX_RETRIES,
        )
        self.batches = SyncAnthropicBatchClient(
            self.sdk,
            model=job.model,
            poll_initial=settings.LLMOPT_BATCH_POLL_INITIAL,
            poll_max=settings.LLMOPT_BATCH_POLL_MAX,
            state_store=DjangoBatchStateStore(job, positions=positions),
        )

    def chunks(
        self,
        source: Iterable[T],
        size: int,
        *,
        then: Callable[[list[T]], Any] | None = None,
    ) -> Iterator[Any]:
        """`source` a list of `size` items at a time (passed through `then` when given).

        The next chunk is read (and prepared) on a thread of its own while the caller stores
        this one: the caller's database waits release the GIL, so download and decoding
        overlap them. `source` and `then` must not touch the database: writes stay on the
        caller's thread and connection. An error of the source is raised here, at the chunk it
        broke.
        """
        items = iter(source)

        def take() -> Any:
            chunk = list(itertools.islice(items, size))
            if not chunk:
                return None  # the end
            return chunk if then is None else then(chunk)

        with ThreadPoolExecutor(1, thread_name_prefix="batch-results-download") as reader:
            pending = reader.submit(take)
            try:
                while (chunk := pending.result()) is not None:
                    pending = reader.submit(take)
                    yield chunk
            finally:
                # The caller may have stopped early: let the chunk in flight finish, then close
                # the source (and its download) here.
                wait([pending])
                close = getattr(items, "close", None)
                if close is not None:
                    close()

    def close(self) -> None:
        self.sdk.close()


@contextmanager
def provider_for(job: BatchJob, positions: dict[str, int] | None = None) -> Iterator[Provider]:
    provider = Provider(job, positions)
    try:
        yield provider
    finally:
        provider.close()


def is_transient(exc: BaseException | None) -> bool:
    """Worth retrying later: what the SDK's own retry rule would send again (connection
    trouble, 408/409/429, 5xx and 529 overloaded, or as the server's `x-should-retry` says)."""
    return sdk_would_retry(exc)
