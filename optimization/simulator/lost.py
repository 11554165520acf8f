"""The `lose_response` fault: the work is done, then the connection drops before any reply.

To the client this is indistinguishable from a network failure after the request left: httpx
raises `RemoteProtocolError` ("Server disconnected without sending a response") and the
Anthropic SDK `APIConnectionError` — streaming or not, since not even a status line arrives.

Closing the connection needs the server's transport, which ASGI does not expose: the app
(`app.SimulatorApp`) stores the server's own `send` in the scope under `SERVER_SEND`, and
under uvicorn that is a bound method of the request cycle, which holds the transport. Under a
server without one (or with middleware wrapping `send` outside the app) the response is cut
off instead: headers promising more bytes than are sent, then an exception, which makes a
real server drop the connection and an in-process ASGI transport raise to the client.
"""

from __future__ import annotations

import asyncio

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

SERVER_SEND = "simulator.server_send"
# uvicorn marks the cycle disconnected one or two loop turns after the close.
DISCONNECT_TURNS = 100


class ConnectionLostError(RuntimeError):
    """Raised when the connection could not be closed cleanly (see the module docstring)."""


class LostResponse(Response):
    """A response that never arrives: the client's connection is closed without a byte."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Close the connection (or, failing that, cut the response off and raise)."""
        cycle = getattr(scope.get(SERVER_SEND), "__self__", None)
        transport = getattr(cycle, "transport", None)
        if isinstance(transport, asyncio.Transport):
            transport.close()
            # Return only once uvicorn has seen the close: before that it would log "returned
            # without starting response" and try to send a 500 down the closed connection.
            for _ in range(DISCONNECT_TURNS):
                if getattr(cycle, "disconnected", True):
                    return
                await asyncio.sleep(0)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        raise ConnectionLostError("lose_response: the response was cut off on purpose")
