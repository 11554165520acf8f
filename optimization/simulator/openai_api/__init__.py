"""OpenAI and Azure OpenAI on the simulator: chat completions, files and the Batch API.

Served by the same app and port as the Anthropic routes (`optimization.simulator.app`), under
three prefixes: `/v1/...` as `openai.OpenAI` calls it (Bearer key), `/openai/...` as
`openai.AzureOpenAI` calls it (`api-key` header, `api-version` query, chat completions under
`/openai/deployments/{deployment}/...`) and `/openai/v1/...` (Azure's v1 API, no api-version).

- Chat completions (`chat`, `chat_answers`, `chat_sse`): deterministic answers in the same
  style as the Anthropic simulator's (echo text, tool calls filling the schema), JSON or SSE
  chunks with `stream_options.include_usage`; automatic prompt caching reported as
  `usage.prompt_tokens_details.cached_tokens` (see `chat`).
- Files (`files`) and batches (`batches`): a JSONL input file, a batch running on the
  simulator clock (validating → in_progress → finalizing → completed, or cancelling →
  cancelled, expired, failed), output and error files in OpenAI's result-line shape.
- Errors in OpenAI's shape `{"error": {"message", "type", "param", "code"}}` (`errors`).

Faults (`x-simulator-faults`, `Simulator.set_faults`) and the ledger work as on the Anthropic
routes. The state lives in `OpenAIState` (`store`), one per `Simulator`.
"""
