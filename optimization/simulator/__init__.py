"""A local Anthropic- and OpenAI-compatible API simulator for tests, benchmarks and the demo.

`from optimization.simulator import app` is an ASGI app with default settings;
`create_app(SimulatorSettings(...), clock=Clock(speed=0))` builds an isolated one (own prompt
cache, own batches, injectable clock). Serve it with
`python -m optimization.simulator --host 127.0.0.1 --port 8089 [--speed N] [--seed N]`, or in
tests with `optimization.simulator.testing.serve(app)`, and point the official SDK at it with
`Anthropic(base_url=url, api_key="any")`.

Endpoints: POST /v1/messages (JSON or `stream: true` server-sent events),
POST /v1/messages/count_tokens, and the Message Batches API under /v1/messages/batches. On the
same app and port, OpenAI's and Azure OpenAI's chat completions, files and Batch API (point
`openai.OpenAI(base_url=url + "/v1")` or `openai.AzureOpenAI(azure_endpoint=url)` at it): see
`optimization.simulator.openai_api`. The Gemini API under /v1beta (generateContent, streaming,
batches, cachedContents, files; point `genai.Client(http_options=HttpOptions(base_url=url))`
or `ChatGoogleGenerativeAI(base_url=url)` at it): see `optimization.simulator.gemini_api`.
Answers are deterministic: see `optimization.simulator.messages`; token counts: see
`optimization.simulator.prompt`; prompt caching: see `optimization.simulator.caching`.

Faults: set `SimulatorSettings(faults=Faults(...))` for every request of an instance, or send
the header `x-simulator-faults: rate_limit=0.5,overloaded=0.2,server_error=0.1,delay_ms=200`
(per request) or `batch_errored=0.2,batch_expired=0.1,batch_never_ends=1,batch_cancel_midway=1`
(on batch creation), or `lose_response=1` / `create_delay_ms=3000` (the work is done, the
answer is lost / late: what makes a client pay twice). Every draw hashes `settings.seed` with
the request's sequence number (or the batch's and the custom_id), never a random id, so a seed
gives the same faults for the same traffic. See `optimization.simulator.faults.Faults` for
each fault's meaning.

Ids (`msgbatch_…`, `msg_…`, `req_…`) hash a random per-instance nonce, so they never repeat
across instances or restarts. Outside /v1, `GET`/`POST /_simulator/faults` read and replace
the instance-wide faults while it runs, and `GET /_simulator/counts` tells how many times each
request was sent and billed (see `optimization.simulator.control_routes` and `.ledger`; in
process: `Simulator.set_faults`, `Simulator.counts`). `optimization.simulator.testing.restart`
restarts a served simulator on the same URL, keeping or losing its state.
"""

from __future__ import annotations

from optimization.simulator.app import create_app
from optimization.simulator.clock import Clock
from optimization.simulator.faults import Faults
from optimization.simulator.settings import SimulatorSettings

__all__ = ["Clock", "Faults", "SimulatorSettings", "app", "create_app"]

app = create_app()
