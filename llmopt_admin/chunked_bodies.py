"""Chunked request bodies under gunicorn.

Django reads a request body up to CONTENT_LENGTH, and a `Transfer-Encoding: chunked` request
has none, so the API would see an empty body. gunicorn de-chunks the input and says, with
`wsgi.input_terminated`, that reading it to the end is safe; this WSGI middleware then reads it,
in memory up to DATA_UPLOAD_MAX_MEMORY_SIZE and in a temporary file beyond, and hands Django a
body of known length. Past LLMOPT_CHUNKED_BODY_MAX_BYTES (the largest body an endpoint accepts)
it answers 413 without calling Django. Each endpoint's own limit then applies as for any body.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import global_settings, settings

__all__ = ["ChunkedBodies"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
READ_SIZE = 64 * 1024


class ChunkedBodies:
    """Wraps a WSGI application; see the module's docstring."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if _unsized_but_terminated(environ):
            limit = settings.LLMOPT_CHUNKED_BODY_MAX_BYTES
            in_memory = (
                settings.DATA_UPLOAD_MAX_MEMORY_SIZE
                or global_settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # None: Django's check is off
            )
            # Not a `with`: the file is Django's input now, closed when the request is dropped.
            body = tempfile.SpooledTemporaryFile(max_size=in_memory)  # noqa: SIM115
            size = 0
            while chunk := environ["wsgi.input"].read(READ_SIZE):
                size += len(chunk)
                if size > limit:
                    body.close()
                    return _too_large(start_response, limit)
                body.write(chunk)
            body.seek(0)
            environ["wsgi.input"] = body
            environ["CONTENT_LENGTH"] = str(size)
        return self.app(environ, start_response)


def _unsized_but_terminated(environ: dict[str, Any]) -> bool:
    """A body framed by Transfer-Encoding, which the server ends for us (PEP 3333 lets a server
    signal that with wsgi.input_terminated; reading other servers' input to the end may block)."""
    return (
        bool(environ.get("wsgi.input_terminated"))
        and not environ.get("CONTENT_LENGTH")
        and bool(environ.get("HTTP_TRANSFER_ENCODING"))
    )


def _too_large(start_response: Callable[..., Any], limit: int) -> list[bytes]:
    body = json.dumps(
        {"detail": f"the chunked request body is over the {limit}-byte limit"}
    ).encode()
    start_response(
        "413 Content Too Large",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
