"""Routes under /v1beta/models: generateContent, streamGenerateContent, countTokens and
batchGenerateContent (`POST /v1beta/models/{model}:{action}`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from optimization._tokens import estimate_tokens
from optimization.simulator.endpoint import inject_faults, read_json, request_faults
from optimization.simulator.faults import draw
from optimization.simulator.gemini_api.answer import usage_metadata
from optimization.simulator.gemini_api.batches import INLINE_MAX_BYTES
from optimization.simulator.gemini_api.endpoint import gemini_endpoint
from optimization.simulator.gemini_api.errors import GoogleError, invalid_argument
from optimization.simulator.gemini_api.request import parse_request
from optimization.simulator.lost import LostResponse
from optimization.simulator.sse import text_pieces
from optimization.simulator.state import Simulator


def _target(request: Request) -> tuple[str, str]:
    model, _, action = request.path_params["target"].partition(":")
    return model, action


async def _answer(simulator: Simulator, request: Request, model: str) -> tuple[Any, Any, int]:
    body = await read_json(request, simulator.settings.max_request_bytes)
    number = simulator.next_number()
    faults = request_faults(simulator, request)
    await inject_faults(simulator, faults, number)
    answer = simulator.gemini.answer_body(
        body, model, simulator.clock.now(), simulator.make_id("resp", number)
    )
    simulator.ledger.message_answered(body)
    lost = draw(simulator.settings.seed, "lose_response", number) < faults.lose_response
    return answer, lost, number


def _chunks(answer: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The response as streamed chunks; usage in each is cumulative, as the API sends it."""
    candidate = answer["candidates"][0]
    usage = answer["usageMetadata"]
    part = candidate["content"]["parts"][0]
    pieces = text_pieces(part["text"]) if part.get("text") else [None]
    sent = ""
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        parts = [part] if piece is None else [{"text": piece}]
        sent += piece or ""
        outputs = usage["candidatesTokenCount"] if last else max(1, estimate_tokens(sent))
        chunk_candidate: dict[str, Any] = {
            "content": {"parts": parts, "role": "model"},
            "index": 0,
        }
        if last:
            chunk_candidate["finishReason"] = candidate["finishReason"]
        yield {
            "candidates": [chunk_candidate],
            "usageMetadata": usage_metadata(
                usage["promptTokenCount"], usage.get("cachedContentTokenCount", 0), outputs
            ),
            "modelVersion": answer["modelVersion"],
            "responseId": answer["responseId"],
        }


def _sse(answer: dict[str, Any]) -> Iterator[str]:
    for chunk in _chunks(answer):
        yield f"data: {json.dumps(chunk, separators=(',', ':'))}\r\n\r\n"


async def _generate(simulator: Simulator, request: Request, model: str) -> Response:
    answer, lost, _ = await _answer(simulator, request, model)
    return LostResponse() if lost else JSONResponse(answer)


async def _stream(simulator: Simulator, request: Request, model: str) -> Response:
    answer, lost, _ = await _answer(simulator, request, model)
    if lost:
        return LostResponse()
    if request.query_params.get("alt") != "sse":  # without SSE the API sends one JSON array
        return JSONResponse(list(_chunks(answer)))
    return StreamingResponse(
        _sse(answer), media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


async def _count_tokens(simulator: Simulator, request: Request, model: str) -> Response:
    body = await read_json(request, simulator.settings.max_request_bytes)
    if isinstance(body, dict) and isinstance(body.get("generateContentRequest"), dict):
        body = body["generateContentRequest"]
    parsed = parse_request(body, model)
    total = parsed.input_tokens
    if parsed.cached_content is not None:
        now = simulator.clock.now()
        total += simulator.gemini.cached_contents.get(parsed.cached_content, now=now).tokens
    return JSONResponse(
        {"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}
    )


async def _batch(simulator: Simulator, request: Request, model: str) -> Response:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > INLINE_MAX_BYTES:
        raise invalid_argument(f"Request payload size exceeds the limit: {INLINE_MAX_BYTES} bytes.")
    body = await read_json(request, INLINE_MAX_BYTES)
    faults = request_faults(simulator, request)
    number = simulator.next_number()
    await inject_faults(simulator, faults, number)
    operation = simulator.gemini.batches.create(model, body, number=number, faults=faults)
    # Both faults strike after the batch exists: the client may not know it was created.
    if faults.create_delay_ms:
        await asyncio.sleep(faults.create_delay_ms / 1000)
    if draw(simulator.settings.seed, "lose_response", number) < faults.lose_response:
        return LostResponse()
    return JSONResponse(operation)


ACTIONS = {
    "generateContent": _generate,
    "streamGenerateContent": _stream,
    "countTokens": _count_tokens,
    "batchGenerateContent": _batch,
}


@gemini_endpoint
async def model_action(simulator: Simulator, request: Request) -> Response:
    """POST /v1beta/models/{model}:{action}."""
    model, action = _target(request)
    handler = ACTIONS.get(action)
    if handler is None:
        raise GoogleError(404, f"Method not found: {action or '(none)'}")
    return await handler(simulator, request, model)


ROUTES = [Route("/v1beta/models/{target}", model_action, methods=["POST"])]
