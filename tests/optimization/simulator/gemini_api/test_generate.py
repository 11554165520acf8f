"""generateContent, streamGenerateContent and countTokens, through the official google-genai SDK."""

from __future__ import annotations

import httpx
import pytest
from google import genai
from google.genai import errors, types

from optimization.simulator import Clock, SimulatorSettings, create_app
from optimization.simulator.ledger import params_hash
from optimization.simulator.testing import serve
from tests.optimization.simulator.gemini_api.conftest import GEMINI, LONG, genai_client


def test_generate_content_answers_deterministically_with_usage(gclient: genai.Client) -> None:
    first = gclient.models.generate_content(model=GEMINI, contents="Say hello in two words")
    again = gclient.models.generate_content(model=GEMINI, contents="Say hello in two words")
    other = gclient.models.generate_content(model=GEMINI, contents="Something else entirely")
    assert first.text is not None
    assert first.text.startswith("echo:")
    assert first.text.endswith("Say hello in two words")
    assert first.text == again.text != other.text
    usage = first.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count
    assert usage.candidates_token_count
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    assert usage.cached_content_token_count is None
    assert first.candidates
    assert first.candidates[0].finish_reason == types.FinishReason.STOP
    assert first.model_version == GEMINI


def test_max_output_tokens_truncates_and_stop_sequences_cut(gclient: genai.Client) -> None:
    cut = gclient.models.generate_content(
        model=GEMINI,
        contents="one two three four five six",
        config={"max_output_tokens": 2},
    )
    assert cut.candidates
    assert cut.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert cut.text is not None
    assert len(cut.text) == 8
    stopped = gclient.models.generate_content(
        model=GEMINI, contents="alpha beta gamma", config={"stop_sequences": ["beta"]}
    )
    assert stopped.text is not None
    assert "beta" not in stopped.text
    assert "alpha" in stopped.text


def test_streaming_sends_chunks_with_cumulative_usage(gclient: genai.Client) -> None:
    whole = gclient.models.generate_content(
        model=GEMINI, contents="a fairly long question with many words in it"
    )
    chunks = list(
        gclient.models.generate_content_stream(
            model=GEMINI, contents="a fairly long question with many words in it"
        )
    )
    assert len(chunks) > 1
    assert "".join(chunk.text or "" for chunk in chunks) == whole.text
    outputs = [
        chunk.usage_metadata.candidates_token_count or 0 for chunk in chunks if chunk.usage_metadata
    ]
    assert outputs == sorted(outputs)
    assert whole.usage_metadata is not None
    assert outputs[-1] == whole.usage_metadata.candidates_token_count
    assert chunks[-1].candidates
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert all(not c.candidates or c.candidates[0].finish_reason is None for c in chunks[:-1])


def test_the_function_named_by_the_user_is_called_with_schema_filled_args(
    gclient: genai.Client,
) -> None:
    weather = types.FunctionDeclaration(
        name="get_weather",
        description="Weather of a city",
        parameters=types.Schema(
            type=types.Type.OBJECT,
            properties={"city": types.Schema(type=types.Type.STRING)},
            required=["city"],
        ),
    )
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[weather])])
    called = gclient.models.generate_content(
        model=GEMINI, contents="please call get_weather for Paris", config=config
    )
    assert called.function_calls
    assert called.function_calls[0].name == "get_weather"
    assert called.function_calls[0].args == {"city": "please call get_weather for Paris"}
    plain = gclient.models.generate_content(model=GEMINI, contents="just chat", config=config)
    assert plain.function_calls is None
    assert plain.text


def test_count_tokens_counts_what_generate_content_bills(gclient: genai.Client) -> None:
    counted = gclient.models.count_tokens(model=GEMINI, contents="count these few words")
    answered = gclient.models.generate_content(model=GEMINI, contents="count these few words")
    assert answered.usage_metadata is not None
    assert counted.total_tokens == answered.usage_metadata.prompt_token_count


def test_a_repeated_long_prefix_is_read_from_the_implicit_cache(gclient: genai.Client) -> None:
    config = types.GenerateContentConfig(system_instruction=LONG)
    first = gclient.models.generate_content(model=GEMINI, contents="first", config=config)
    second = gclient.models.generate_content(model=GEMINI, contents="second", config=config)
    assert first.usage_metadata is not None
    assert second.usage_metadata is not None
    assert first.usage_metadata.cached_content_token_count is None
    cached = second.usage_metadata.cached_content_token_count
    assert cached is not None
    assert cached >= 2048
    assert second.usage_metadata.prompt_token_count is not None
    assert cached < second.usage_metadata.prompt_token_count


def test_a_repeated_prefix_below_the_model_minimum_is_not_cached(gclient: genai.Client) -> None:
    config = types.GenerateContentConfig(system_instruction="short rules " * 100)
    for question in ("first", "second"):
        answer = gclient.models.generate_content(model=GEMINI, contents=question, config=config)
        assert answer.usage_metadata is not None
        assert answer.usage_metadata.cached_content_token_count is None


def test_gemini_3_needs_twice_the_prefix_of_gemini_2_5(gclient: genai.Client) -> None:
    config = types.GenerateContentConfig(system_instruction=LONG)  # ~2,600 tokens
    for question in ("first", "second"):
        answer = gclient.models.generate_content(
            model="gemini-3-pro-preview", contents=question, config=config
        )
    assert answer.usage_metadata is not None
    assert answer.usage_metadata.cached_content_token_count is None


def test_the_ledger_counts_each_answered_body(base_url: str, sim_app: object) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    for _ in range(2):
        response = httpx.post(f"{base_url}/v1beta/models/{GEMINI}:generateContent?key=k", json=body)
        assert response.status_code == 200
    counts = sim_app.state.simulator.counts()  # type: ignore[attr-defined]
    assert counts.messages[params_hash(body)] == 2


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"contents": [], "bogus": 1}, 400, 'Unknown name "bogus"'),
        ({"contents": []}, 400, "contents is not specified"),
        ({"contents": [{"role": "robot", "parts": [{"text": "x"}]}]}, 400, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, 400, "must not be empty"),
    ],
)
def test_bad_bodies_get_400_invalid_argument_naming_the_field(
    base_url: str, body: dict[str, object], status: int, words: str
) -> None:
    response = httpx.post(
        f"{base_url}/v1beta/models/{GEMINI}:generateContent",
        json=body,
        headers={"x-goog-api-key": "k"},
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["code"] == 400
    assert words in error["message"]


def test_a_missing_key_is_403_and_a_wrong_one_400_as_google_answers(clock: Clock) -> None:
    settings = SimulatorSettings(api_keys=frozenset({"good"}))
    with serve(create_app(settings, clock=clock)) as url:
        good, bad = genai_client(url, "good"), genai_client(url, "bad")
        assert good.models.generate_content(model=GEMINI, contents="hi").text
        with pytest.raises(errors.ClientError) as wrong:
            bad.models.generate_content(model=GEMINI, contents="hi")
        missing = httpx.post(
            f"{url}/v1beta/models/{GEMINI}:generateContent",
            json={"contents": [{"parts": [{"text": "hi"}]}]},
        )
    assert (wrong.value.code, wrong.value.status) == (400, "INVALID_ARGUMENT")
    assert "API key not valid" in (wrong.value.message or "")
    assert missing.status_code == 403
    assert missing.json()["error"]["status"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    ("faults", "code", "status"),
    [
        ("rate_limit=1", 429, "RESOURCE_EXHAUSTED"),
        ("overloaded=1", 503, "UNAVAILABLE"),
        ("server_error=1", 500, "INTERNAL"),
    ],
)
def test_faults_answer_in_googles_shape(
    gclient: genai.Client, faults: str, code: int, status: str
) -> None:
    config = types.GenerateContentConfig(
        http_options=types.HttpOptions(headers={"x-simulator-faults": faults})
    )
    with pytest.raises(errors.APIError) as caught:
        gclient.models.generate_content(model=GEMINI, contents="hi", config=config)
    assert (caught.value.code, caught.value.status) == (code, status)


def test_a_lost_response_was_answered_and_billed_all_the_same(
    base_url: str, sim_app: object
) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "lost"}]}]}
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(
            f"{base_url}/v1beta/models/{GEMINI}:generateContent",
            json=body,
            headers={"x-goog-api-key": "k", "x-simulator-faults": "lose_response=1"},
        )
    counts = sim_app.state.simulator.counts()  # type: ignore[attr-defined]
    assert counts.messages[params_hash(body)] == 1


def test_an_unknown_method_is_404_not_found(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/v1beta/models/{GEMINI}:doMagic", json={}, headers={"x-goog-api-key": "k"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
