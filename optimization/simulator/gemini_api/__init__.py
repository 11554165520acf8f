"""The simulator's Gemini API (google-genai / ChatGoogleGenerativeAI), under /v1beta.

Served by the same app and port as the Anthropic API: point `genai.Client(api_key=...,
http_options=HttpOptions(base_url=url))` or `ChatGoogleGenerativeAI(base_url=url, ...)` at it.

- `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent` (`?alt=sse` for
  server-sent events), `:countTokens`, `:batchGenerateContent` (inline requests);
- `GET /v1beta/batches`, `GET`/`DELETE /v1beta/batches/{id}`, `POST /v1beta/batches/{id}:cancel`;
- `/v1beta/cachedContents` create/list and `/{id}` get/patch (ttl, expireTime)/delete;
- the Files API as batch JSONL input and output need it: resumable `POST /upload/v1beta/files`,
  `GET`/`DELETE /v1beta/files/{id}`, `GET /v1beta/files/{id}:download?alt=media`.

Answers, usage and caching: `answer`; request checks: `request`; batches: `batches`; explicit
caches: `cached_contents`; files: `files`; errors in Google's shape: `errors`. The
instance-wide faults and the `x-simulator-faults` header apply here as on /v1 (rate_limit →
429 RESOURCE_EXHAUSTED, overloaded → 503 UNAVAILABLE, server_error → 500 INTERNAL,
lose_response, create_delay_ms and the batch faults).
"""
