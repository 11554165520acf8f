"""POST /v1/chat/completions (and Azure's /openai/deployments/{deployment}/chat/completions)
and POST /v1/responses: answered, counted in the ledger once answered, lost or not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from optimization.simulator.endpoint import inject_faults, read_json, request_faults
from optimization.simulator.faults import draw
from optimization.simulator.lost import LostResponse
from optimization.simulator.openai_api.chat import parse_chat_request
from optimization.simulator.openai_api.chat_answers import answer_chat
from optimization.simulator.openai_api.chat_sse import completion_chunks
from optimization.simulator.openai_api.endpoint import AZURE, FLAVOURS, Flavour, openai_endpoint
from optimization.simulator.openai_api.responses import as_chat_body, as_response
from optimization.simulator.openai_api.responses_sse import response_events
from optimization.simulator.state import Simulator

# (body, sequence number, broken stream?) → (the answer, its SSE frames when streamed)
Answer = Callable[[Any, int, bool], tuple[dict[str, Any], Iterator[str] | None]]


async def _serve(simulator: Simulator, request: Request, answer: Answer) -> Response:
    body = await read_json(request, simulator.settings.max_request_bytes)
    number = simulator.next_number()
    faults = request_faults(simulator, request)
    await inject_faults(simulator, faults, number)
    seed = simulator.settings.seed
    broken = draw(seed, "stream_error", number) < faults.stream_error
    result, frames = answer(body, number, broken)
    simulator.ledger.message_answered(body)
    if draw(seed, "lose_response", number) < faults.lose_response:
        return LostResponse()
    if frames is None:
        return JSONResponse(result)
    return StreamingResponse(
        frames, media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


async def create_completion(simulator: Simulator, request: Request, flavour: Flavour) -> Response:
    """A chat completion, JSON or chunks (the `stream_error` fault breaks the stream)."""
    state = simulator.openai

    def answer(body: Any, number: int, broken: bool) -> tuple[dict[str, Any], Iterator[str] | None]:
        chat = parse_chat_request(body, deployment=request.path_params.get("deployment"))
        completion = answer_chat(
            chat, state.cache, now=simulator.clock.now(), completion_id=state.make_id("msg", number)
        )
        if not chat.stream:
            return completion, None
        return completion, completion_chunks(
            completion, include_usage=chat.include_usage, broken=broken
        )

    return await _serve(simulator, request, answer)


async def create_response(simulator: Simulator, request: Request, flavour: Flavour) -> Response:
    """A Response, JSON or typed events (see `responses`)."""
    state = simulator.openai

    def answer(body: Any, number: int, broken: bool) -> tuple[dict[str, Any], Iterator[str] | None]:
        chat = parse_chat_request(as_chat_body(body))
        completion = answer_chat(
            chat, state.cache, now=simulator.clock.now(), completion_id=state.make_id("msg", number)
        )
        response = as_response(body, completion, state.make_id("resp", number))
        return response, response_events(response) if body.get("stream") else None

    return await _serve(simulator, request, answer)


def _routes() -> list[Route]:
    routes = []
    for flavour in FLAVOURS:
        # Azure's versioned API names the deployment in the path; its v1 API, like OpenAI's,
        # in the body's `model`.
        chat = (
            "/deployments/{deployment}/chat/completions"
            if flavour is AZURE
            else "/chat/completions"
        )
        routes += [
            Route(
                flavour.prefix + chat, openai_endpoint(create_completion, flavour), methods=["POST"]
            ),
            Route(
                flavour.prefix + "/responses",
                openai_endpoint(create_response, flavour),
                methods=["POST"],
            ),
        ]
    return routes


ROUTES = _routes()
