"""POST /v1/chat/completions and Azure's /openai/deployments/{deployment}/chat/completions."""

from __future__ import annotations

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
from optimization.simulator.state import Simulator


async def create_completion(simulator: Simulator, request: Request, flavour: Flavour) -> Response:
    """Answer a chat completion (counted in the ledger once answered, lost or not)."""
    body = await read_json(request, simulator.settings.max_request_bytes)
    number = simulator.next_number()
    faults = request_faults(simulator, request)
    await inject_faults(simulator, faults, number)
    chat = parse_chat_request(body, deployment=request.path_params.get("deployment"))
    state = simulator.openai
    completion = answer_chat(
        chat, state.cache, now=simulator.clock.now(), completion_id=state.make_id("msg", number)
    )
    simulator.ledger.message_answered(body)
    seed = simulator.settings.seed
    if draw(seed, "lose_response", number) < faults.lose_response:
        return LostResponse()
    if not chat.stream:
        return JSONResponse(completion)
    broken = draw(seed, "stream_error", number) < faults.stream_error
    return StreamingResponse(
        completion_chunks(completion, include_usage=chat.include_usage, broken=broken),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache"},
    )


def _routes() -> list[Route]:
    routes = []
    for flavour in FLAVOURS:
        endpoint = openai_endpoint(create_completion, flavour)
        # Azure's versioned API names the deployment in the path; its v1 API, like OpenAI's,
        # in the body's `model`.
        path = (
            "/deployments/{deployment}/chat/completions"
            if flavour is AZURE
            else "/chat/completions"
        )
        routes.append(Route(flavour.prefix + path, endpoint, methods=["POST"]))
    return routes


ROUTES = _routes()
