"""A fake IBM Cloud IAM token endpoint and watsonx.ai text chat API, on one server.

From https://cloud.ibm.com/apidocs/iam-identity-token-api and https://cloud.ibm.com/apidocs/watsonx-ai#text-chat:

- ``POST /identity/token`` takes the form ``grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=...``
  and answers ``{access_token, refresh_token, token_type, expires_in, expiration, scope}``; an unknown
  key gets IAM's 400 ``{"errorCode": "BXNIM0415E", "errorMessage": ...}``. Every exchange is
  counted in ``fake.events["token_exchanges"]`` so tests can prove caching.
- ``POST /ml/v1/text/chat?version=YYYY-MM-DD`` and ``/ml/v1/text/chat_stream`` need
  ``Authorization: Bearer <token issued here, not expired, not revoked>``, else 401 with watsonx's
  error body ``{"errors": [{"code", "message", "more_info"}], "trace", "status_code"}``. Bodies are
  validated: ``model_id``, ``messages`` and one of ``project_id``/``space_id`` required, unknown
  fields rejected (an OpenAI-only ``model`` or ``stream`` leaking through fails).
- Streams are SSE ``id: <n>\\nevent: message\\ndata: <chunk>\\n\\n`` events; the last chunk carries usage.
- ``POST /ml/v1/text/embeddings?version=`` (https://cloud.ibm.com/apidocs/watsonx-ai#text-embeddings):
  the same token and version rules; ``inputs`` (1 to 1000 strings), ``model_id`` and a project or
  space required, only ``parameters.truncate_input_tokens`` / ``return_options.input_text`` beside
  them; an input over the model's 512 tokens (words, here) without truncation is IBM's 400.
  Answers ``{"model_id", "results": [{"embedding"}], "created_at", "input_token_count"}`` with
  ``EMBED_DIMENSIONS`` floats per input derived from its text; ``fake.events["embed_requests"]``
  counts the calls (batching).

Set ``app["settings"]["expires_in"]`` to change the lifetime of issued tokens (``delay`` and
``fail_status`` slow down or fail the token endpoint; ``token_requests`` counts every attempt); add a token to ``app["revoked"]``
to make watsonx reject it before it expires. Model ``error-<status>`` answers that status.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from aiohttp import web

from .server import FakeServer

GRANT = "urn:ibm:params:oauth:grant-type:apikey"
FIELDS = {
    "model_id", "model", "messages", "project_id", "space_id", "tools", "tool_choice_option", "tool_choice",
    "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "max_tokens", "max_completion_tokens", "n",
    "presence_penalty", "response_format", "seed", "stop", "temperature", "top_p", "time_limit", "context",
    "reasoning_effort", "include_reasoning", "chat_template_kwargs", "repetition_penalty", "length_penalty",
}
ROLES = {"system", "user", "assistant", "tool", "control"}
TOOL_CALL_ID = "chatcmpl-tool-af37032523934f019aa7258469580a7a"
TOOL_ARGUMENT_PIECES = ['{"location', '": "', "Madrid", '"}']
TOOL_ARGUMENTS = "".join(TOOL_ARGUMENT_PIECES)


def watsonx_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({
        "errors": [{"code": code, "message": message, "more_info": "https://cloud.ibm.com/apidocs/watsonx-ai#text-chat"}],
        "trace": uuid.uuid4().hex, "status_code": status,
    }, status=status)


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _validate(body) -> str | None:
    if not isinstance(body, dict):
        return "Json document validation error: body must be an object"
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        return f"Json document validation error: '{unknown[0]}' is not an allowed field"
    if "model" in body:
        return "Json document validation error: use model_id"
    if not body.get("model_id"):
        return "Json document validation error: 'model_id' is a required property"
    if not body.get("project_id") and not body.get("space_id"):
        return "Either 'space_id' or 'project_id' has to be provided"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "Json document validation error: 'messages' is a required property"
    for i, m in enumerate(messages):
        if m.get("role") not in ROLES:
            return f"Json document validation error: messages[{i}].role {m.get('role')!r} is not one of {sorted(ROLES)}"
        if m.get("role") == "tool" and not m.get("tool_call_id"):
            return f"Json document validation error: messages[{i}].tool_call_id is required"
    if body.get("tool_choice_option") not in (None, "none", "auto", "required"):
        return "Json document validation error: tool_choice_option must be one of none, auto, required"
    return None


def _answer(body: dict) -> tuple[str, dict]:
    last = body["messages"][-1]
    if body.get("tools") and last.get("role") != "tool" and body.get("tool_choice_option") != "none":
        name = body["tools"][0]["function"]["name"]
        return "tool_calls", {"role": "assistant", "tool_calls": [
            {"id": TOOL_CALL_ID, "type": "function", "function": {"name": name, "arguments": TOOL_ARGUMENTS}}]}
    if last.get("role") == "tool":
        return "stop", {"role": "assistant", "content": "The tool said: " + _text(last.get("content"))}
    user = next((m for m in reversed(body["messages"]) if m.get("role") == "user"), {})
    return "stop", {"role": "assistant", "content": "echo: " + _text(user.get("content"))}


USAGE = {"completion_tokens": 9, "prompt_tokens": 31, "total_tokens": 40}
EMBED_FIELDS = {"inputs", "model_id", "project_id", "space_id", "parameters"}
EMBED_MAX_INPUTS = 1000
EMBED_MAX_TOKENS = 512
EMBED_DIMENSIONS = 4


def embedding(text: str) -> list[float]:
    """A vector that depends only on the text, so tests can check order and batching."""
    return [round(len(text) / 100, 4), round(len(text.split()) / 10, 4), float(sum(map(ord, text)) % 97) / 97, -0.5]


def _validate_embed(body) -> str | None:
    if not isinstance(body, dict):
        return "Json document validation error: body must be an object"
    unknown = sorted(set(body) - EMBED_FIELDS)
    if unknown:
        return f"Json document validation error: '{unknown[0]}' is not an allowed field"
    if not body.get("model_id"):
        return "Json document validation error: 'model_id' is a required property"
    if not body.get("project_id") and not body.get("space_id"):
        return "Either 'space_id' or 'project_id' has to be provided"
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
        return "Json document validation error: 'inputs' must be a non-empty array of strings"
    if len(inputs) > EMBED_MAX_INPUTS:
        return f"Json document validation error: 'inputs' can contain at most {EMBED_MAX_INPUTS} items"
    parameters = body.get("parameters") or {}
    if set(parameters) - {"truncate_input_tokens", "return_options"}:
        return "Json document validation error: parameters may only hold truncate_input_tokens and return_options"
    return None


def make_app(api_key: str) -> web.Application:
    app = web.Application()
    app["settings"] = {"expires_in": 3600}  # mutable after start
    app["tokens"] = {}  # token -> monotonic expiry
    app["revoked"] = set()

    async def token(request: web.Request) -> web.Response:
        fake: FakeServer = request.app["fake"]
        form = await request.post()
        if request.content_type != "application/x-www-form-urlencoded" or form.get("grant_type") != GRANT:
            return web.json_response({"errorCode": "BXNIM0109E", "errorMessage": "Property missing or empty. Property name is: 'grant_type'."}, status=400)
        if form.get("apikey") != api_key:
            return web.json_response({"errorCode": "BXNIM0415E", "errorMessage": "Provided API key could not be found.",
                                      "context": {"requestId": uuid.uuid4().hex}}, status=400)
        # Exchange-behaviour knobs (tests/security/test_token_exchanges.py): every attempt is
        # counted on arrival; "delay" holds the answer back, "fail_status" makes IAM fail.
        fake.bump("token_requests")
        settings = request.app["settings"]
        if settings.get("delay"):
            await asyncio.sleep(settings["delay"])
        if settings.get("fail_status"):
            return web.json_response({"errorCode": "BXNIM0000E", "errorMessage": "IAM is unavailable"}, status=settings["fail_status"])
        fake.bump("token_exchanges")
        value = f"iam-{uuid.uuid4().hex}"
        lifetime = request.app["settings"]["expires_in"]
        request.app["tokens"][value] = time.monotonic() + lifetime
        return web.json_response({"access_token": value, "refresh_token": "not_supported", "token_type": "Bearer",
                                  "expires_in": lifetime, "expiration": int(time.time() + lifetime), "scope": "ibm openid"})

    def check_token(request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return watsonx_error(401, "authorization_rejected", "Failed to authenticate the request due to missing token")
        value = header[len("Bearer "):]
        expiry = request.app["tokens"].get(value)
        if expiry is None or value in request.app["revoked"]:
            return watsonx_error(401, "authentication_token_not_valid", "Failed to authenticate the request due to invalid token: Failed to parse and verify token")
        if time.monotonic() >= expiry:
            return watsonx_error(401, "authentication_token_expired", "Failed to authenticate the request due to an expired token")
        return None

    async def common(request: web.Request) -> tuple[dict | None, web.Response | None]:
        if not request.query.get("version"):
            return None, watsonx_error(400, "missing_version", "Missing query parameter 'version'")
        denied = check_token(request)
        if denied:
            return None, denied
        try:
            body = await request.json()
        except ValueError:
            return None, watsonx_error(400, "json_validation_error", "Json document validation error: not JSON")
        problem = _validate(body)
        if problem:
            return None, watsonx_error(400, "json_validation_error", problem)
        model = body["model_id"]
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            return None, watsonx_error(status, "model_not_supported" if status == 404 else "fake_error", f"fake watsonx error {status}")
        return body, None

    def envelope(body: dict, ident: str) -> dict:
        return {"id": ident, "model_id": body["model_id"], "model": body["model_id"], "created": int(time.time()),
                "model_version": "3.3.0", "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}

    async def chat(request: web.Request) -> web.Response:
        body, error = await common(request)
        if error:
            return error
        finish, message = _answer(body)
        ident = f"chatcmpl-{uuid.uuid4().hex}"
        return web.json_response({**envelope(body, ident), "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": USAGE})

    async def chat_stream(request: web.Request) -> web.StreamResponse:
        body, error = await common(request)
        if error:
            return error
        finish, message = _answer(body)
        ident = f"chatcmpl-{uuid.uuid4().hex}"
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        counter = 0

        async def send(choices: list, usage: dict | None = None) -> None:
            nonlocal counter
            counter += 1
            chunk = {**envelope(body, ident), "object": "chat.completion.chunk", "choices": choices}
            if usage:
                chunk["usage"] = usage
            await response.write(f"id: {counter}\nevent: message\ndata: {json.dumps(chunk)}\n\n".encode())

        await send([{"index": 0, "finish_reason": None, "delta": {"role": "assistant", "content": ""}}])
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            await send([{"index": 0, "finish_reason": None, "delta": {"tool_calls": [
                {"index": 0, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}]}}])
            for piece in TOOL_ARGUMENT_PIECES:
                await send([{"index": 0, "finish_reason": None, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}}])
        else:
            words = message["content"].split(" ")
            for i, word in enumerate(words):
                await send([{"index": 0, "finish_reason": None, "delta": {"content": word if i == 0 else " " + word}}])
        await send([{"index": 0, "finish_reason": finish, "delta": {}}], USAGE)
        return response

    async def embeddings(request: web.Request) -> web.Response:
        if not request.query.get("version"):
            return watsonx_error(400, "missing_version", "Missing query parameter 'version'")
        denied = check_token(request)
        if denied:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return watsonx_error(400, "json_validation_error", "Json document validation error: not JSON")
        problem = _validate_embed(body)
        if problem:
            return watsonx_error(400, "json_validation_error", problem)
        model = body["model_id"]
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            return watsonx_error(status, "model_not_supported" if status == 404 else "fake_error", f"fake watsonx error {status}")
        request.app["fake"].bump("embed_requests")
        parameters = body.get("parameters") or {}
        limit = parameters.get("truncate_input_tokens") or EMBED_MAX_TOKENS
        results, count = [], 0
        for text in body["inputs"]:
            words = text.split()
            if len(words) > EMBED_MAX_TOKENS and not parameters.get("truncate_input_tokens"):
                return watsonx_error(400, "invalid_input_argument",
                                     f"Invalid input argument for Model '{model}': the number of input tokens {len(words)} "
                                     f"exceeds the maximum sequence length {EMBED_MAX_TOKENS} for this model")
            kept = " ".join(words[:limit])
            count += len(kept.split())
            result = {"embedding": embedding(kept)}
            if (parameters.get("return_options") or {}).get("input_text"):
                result["input"] = text
            results.append(result)
        return web.json_response({"model_id": model, "results": results, "input_token_count": count,
                                  "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())})

    app.router.add_post("/identity/token", token)
    app.router.add_post("/ml/v1/text/embeddings", embeddings)
    app.router.add_post("/ml/v1/text/chat", chat)
    app.router.add_post("/ml/v1/text/chat_stream", chat_stream)
    return app


def start(api_key: str = "ibm-fake-apikey") -> FakeServer:
    return FakeServer(make_app(api_key)).start()
