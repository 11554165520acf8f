"""Routes: POST /v1/messages (JSON or server-sent events) and /v1/messages/count_tokens."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from optimization.simulator.endpoint import api_endpoint, inject_faults, read_json, request_faults
from optimization.simulator.errors import invalid
from optimization.simulator.faults import draw
from optimization.simulator.lost import LostResponse
from optimization.simulator.sse import message_events
from optimization.simulator.state import Simulator

NOT_COUNTED = ("max_tokens", "stream", "stop_sequences", "temperature", "top_p", "top_k")


@api_endpoint
async def create_message(simulator: Simulator, request: Request) -> Response:
    """POST /v1/messages (counted in the ledger once answered, lost or not)."""
    body = await read_json(request, simulator.settings.max_request_bytes)
    number = simulator.next_number()
    faults = request_faults(simulator, request)
    await inject_faults(simulator, faults, number)
    message = simulator.answer_body(
        body, simulator.clock.now(), simulator.make_id("msg", number), "standard"
    )
    simulator.ledger.message_answered(body)
    seed = simulator.settings.seed
    if draw(seed, "lose_response", number) < faults.lose_response:
        return LostResponse()
    if not body.get("stream"):
        return JSONResponse(message)
    broken = draw(seed, "stream_error", number) < faults.stream_error
    return StreamingResponse(
        message_events(message, fail_after_first_block=broken),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache"},
    )


@api_endpoint
async def count_tokens(simulator: Simulator, request: Request) -> Response:
    """POST /v1/messages/count_tokens: the input tokens the request would use."""
    body = await read_json(request, simulator.settings.max_request_bytes)
    if isinstance(body, dict):
        for name in NOT_COUNTED:
            if name in body:
                raise invalid(f"{name}: Extra inputs are not permitted")
        body = {**body, "max_tokens": 1}
    parsed = simulator.parse(body)
    return JSONResponse({"input_tokens": sum(block.tokens for block in parsed.blocks)})


ROUTES = [
    Route("/v1/messages", create_message, methods=["POST"]),
    Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
]
