"""A fake Google Gemini API and Vertex AI endpoint, plus a fake Google OAuth token endpoint.

Wire format from Google's public references (https://ai.google.dev/api/generate-content,
https://ai.google.dev/api/embeddings, https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference,
https://developers.google.com/identity/protocols/oauth2/service-account#httprest):

  Gemini   POST /v1beta/models/{model}:generateContent | :streamGenerateContent[?alt=sse] | :batchEmbedContents
           GET  /v1beta/models
           auth: x-goog-api-key (missing -> 403 PERMISSION_DENIED, wrong -> 400 API_KEY_INVALID, as Google does)
  Vertex   POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent | ... | :predict
           auth: Authorization: Bearer <token this fake issued, unexpired> (else 401 UNAUTHENTICATED)
  OAuth    POST /token  (grant_type jwt-bearer: the RS256 assertion is verified with the service
           account's public key; grant_type refresh_token for authorized_user files)

Requests are validated like the real API: roles must be user/model, parts need exactly one
payload, unknown fields are rejected ("Invalid JSON payload received. Unknown name ..."), function
parameter schemas must be Google's OpenAPI subset, a functionCall turn must be answered by as many
functionResponse parts, and a functionCall part sent back must carry the thoughtSignature the fake
gave it (Gemini 3's rule). Errors are Google's {"error": {"code", "message", "status"}} bodies and
streams use Google's SSE framing (``data: {...}`` lines ended by CRLF CRLF). Vertex ``:predict``
keeps the per-model instance limits (one for gemini-embedding-001, 250 for the text-embedding
models: "N instance(s) is allowed per prediction. Actual: M") and counts requests in flight
(``events["predict_peak"]``).

The model name picks a behaviour: ``error-<status>`` (that Google error), ``blocked`` (prompt
blocked by safety), ``parallel`` (two function calls at once), ``stream-error`` (an error event
after two streamed chunks); otherwise the answer depends on the
conversation: a tool result -> "The tool said: ..."; tools offered -> a functionCall of TOOL_ARGS;
an image -> "I see <mime> (<n> bytes)"; else "echo: <last user text>".
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from .server import FakeServer

TOOL_ARGS = {"city": "Paris", "days": 3, "units": ["celsius", "kelvin"], "note": 'café "quoted" \\ ok'}
SIGNATURE = "c2lnbmF0dXJlK3Rlc3Q/Lz0="  # base64 with + / = in it, like real signatures
RESPONSE_ID = "fakeResp123"
MODEL_VERSION_SUFFIX = "-001"
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}

TOP_LEVEL = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings", "cachedContent"}
VERTEX_TOP_LEVEL = TOP_LEVEL | {"labels"}
PART_PAYLOADS = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult"}
PART_KEYS = PART_PAYLOADS | {"thought", "thoughtSignature", "videoMetadata"}
GENERATION_CONFIG = {"stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "responseModalities",
                     "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty",
                     "frequencyPenalty", "responseLogprobs", "logprobs", "thinkingConfig", "mediaResolution"}
THINKING_CONFIG = {"includeThoughts", "thinkingBudget", "thinkingLevel"}
SCHEMA_KEYS = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
               "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
               "propertyOrdering", "default", "items", "minimum", "maximum"}
SCHEMA_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}
DECLARATION_KEYS = {"name", "description", "parameters", "parametersJsonSchema", "response", "behavior"}
FUNCTION_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$")
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class Invalid(Exception):
    pass


LIVE_ONLY_MODEL = "gemini-live-only-7"
PREDICT_INSTANCE_LIMITS = {"gemini-embedding-001": 1}
EMPTY_TEXT = "Unable to submit request because it has an empty text parameter. Add a value to the parameter and try again."
CONTEXT_MESSAGE = "The input token count (1048612) exceeds the maximum number of tokens allowed (1048576)."

def google_error(status: int, message: str, details: list | None = None, headers: dict | None = None) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}
    if details:
        error["details"] = details
    return web.json_response({"error": error}, status=status, headers=headers)


def unknown_field(name: str, where: str = "") -> Invalid:
    at = f" at '{where}'" if where else ""
    return Invalid(f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.')


# --- request validation -------------------------------------------------------------------------


def check_schema(node: Any, where: str) -> None:
    if not isinstance(node, dict):
        raise Invalid(f"* GenerateContentRequest.{where}: schema must be an object")
    for key in node:
        if key not in SCHEMA_KEYS:
            raise unknown_field(key, where)
    kind = node.get("type")
    if kind is not None and (not isinstance(kind, str) or kind.lower() not in SCHEMA_TYPES):
        raise Invalid(f"Invalid value at '{where}.type' ({type(kind).__name__}), {json.dumps(kind)}")
    if isinstance(kind, str) and kind.lower() == "object" and not node.get("properties"):
        raise Invalid(f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type")
    if "enum" in node and not all(isinstance(v, str) for v in node["enum"]):
        raise Invalid(f"Invalid value at '{where}.enum': enum values must be strings")
    for name, sub in (node.get("properties") or {}).items():
        check_schema(sub, f"{where}.properties[{name}].value")
    if "items" in node:
        check_schema(node["items"], f"{where}.items")
    for i, sub in enumerate(node.get("anyOf") or []):
        check_schema(sub, f"{where}.any_of[{i}]")


def check_part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise Invalid(f"Invalid value at '{where}': part must be an object")
    for key in part:
        if key not in PART_KEYS:
            raise unknown_field(key, where)
    payloads = [k for k in part if k in PART_PAYLOADS]
    if len(payloads) != 1:
        raise Invalid(f"* GenerateContentRequest.{where}.data: required oneof field 'data' must have one initialized field")
    if "text" in part and part["text"] == "":
        raise Invalid(EMPTY_TEXT)
    if "inlineData" in part:
        data = part["inlineData"]
        if not data.get("mimeType") or not isinstance(data.get("data"), str):
            raise Invalid(f"* GenerateContentRequest.{where}.inline_data.mime_type: mimeType and data are required")
        try:
            base64.b64decode(data["data"], validate=True)
        except ValueError:
            raise Invalid(f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed") from None
    if "fileData" in part:
        data = part["fileData"]
        if not data.get("fileUri"):
            raise Invalid(f"* GenerateContentRequest.{where}.file_data.file_uri: file_uri is required")
        if not data.get("mimeType"):
            raise Invalid(f"* GenerateContentRequest.{where}.file_data.mime_type: mimeType is required")
    if "functionCall" in part:
        call = part["functionCall"]
        if not call.get("name") or not isinstance(call.get("args", {}), dict):
            raise Invalid(f"* GenerateContentRequest.{where}.function_call: name and object args are required")
    if "functionResponse" in part:
        resp = part["functionResponse"]
        if not resp.get("name") or not isinstance(resp.get("response"), dict):
            raise Invalid(f"* GenerateContentRequest.{where}.function_response: name and object response are required")


# The thinkingLevel values each Gemini 3 model takes (ai.google.dev/gemini-api/docs/thinking).
# Longest prefix first: gemini-3.5-flash-lite is not gemini-3.5-flash.
THINKING_LEVELS = {"gemini-3-pro": {"low", "high"}, "gemini-3.1-pro": {"low", "medium", "high"},
                   "gemini-3.5-flash-lite": {"minimal", "low", "medium", "high"}, "gemini-3.5-flash": {"low", "medium", "high"},
                   "gemini-3.1-flash-lite": {"minimal", "low", "medium", "high"}, "gemini-3-flash": {"minimal", "low", "medium", "high"}}


def _thinking_levels(model: str) -> set[str] | None:
    return next((levels for prefix, levels in THINKING_LEVELS.items() if model.startswith(prefix)), None)


def validate(body: Any, vertex: bool, issued_signatures: set[str], model: str = "") -> None:
    if not isinstance(body, dict):
        raise Invalid("Invalid JSON payload received. Expected an object.")
    for key in body:
        if key not in (VERTEX_TOP_LEVEL if vertex else TOP_LEVEL):
            raise unknown_field(key)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise Invalid("* GenerateContentRequest.contents: contents is not specified")
    for i, content in enumerate(contents):
        role = content.get("role")
        if vertex and role is None:
            raise Invalid(f"Please use a valid role: user, model. (contents[{i}].role is empty)")
        if role is not None and role not in ("user", "model"):
            raise Invalid("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise Invalid(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
        for j, part in enumerate(parts):
            check_part(part, f"contents[{i}].parts[{j}]")
        calls = [p for p in parts if "functionCall" in p]
        if calls:
            if role != "model":
                raise Invalid("Please ensure that function call turns come from the model.")
            before = contents[i - 1] if i > 0 else None
            if before is not None and before.get("role") == "model":
                raise Invalid("Please ensure that function call turn comes immediately after a user turn or after a "
                              "function response turn.")
            for p in calls[:1]:  # in parallel calls only the first part carries the signature
                if issued_signatures and p.get("thoughtSignature") not in issued_signatures:
                    raise Invalid(f"Function call is missing a thought_signature in functionCall parts. This is required "
                                  f"for tools to work correctly, and missing thought_signature may lead to degraded model "
                                  f"performance. Additional data, function call `{p['functionCall']['name']}` , position {i + 1}.")
            follow = contents[i + 1] if i + 1 < len(contents) else None
            if follow is not None:
                answers = [p["functionResponse"]["name"] for p in follow.get("parts", []) if "functionResponse" in p]
                if sorted(answers) != sorted(p["functionCall"]["name"] for p in calls):
                    raise Invalid("Please ensure that the number of function response parts is equal to the number of "
                                  "function call parts of the function call turn.")
    system = body.get("systemInstruction")
    if system is not None:
        if not isinstance(system, dict) or not all(set(p) == {"text"} for p in system.get("parts", [])):
            raise Invalid("* GenerateContentRequest.system_instruction: only text parts are supported")
        if any(p["text"] == "" for p in system.get("parts", [])):
            raise Invalid(EMPTY_TEXT)
    names: set[str] = set()
    for i, tool in enumerate(body.get("tools") or []):
        for key in tool:
            if key not in ("functionDeclarations", "googleSearch", "codeExecution", "urlContext"):
                raise unknown_field(key, f"tools[{i}]")
        for j, decl in enumerate(tool.get("functionDeclarations") or []):
            where = f"tools[{i}].function_declarations[{j}]"
            for key in decl:
                if key not in DECLARATION_KEYS:
                    raise unknown_field(key, where)
            if not isinstance(decl.get("name"), str) or not FUNCTION_NAME.match(decl["name"]):
                raise Invalid(f"* GenerateContentRequest.{where}.name: Invalid function name.")
            names.add(decl["name"])
            if "parameters" in decl:
                check_schema(decl["parameters"], f"{where}.parameters")
    config = body.get("toolConfig")
    if config is not None:
        fcc = config.get("functionCallingConfig") or {}
        if fcc.get("mode") not in ("AUTO", "ANY", "NONE", "VALIDATED"):
            raise Invalid(f"Invalid value at 'tool_config.function_calling_config.mode', {json.dumps(fcc.get('mode'))}")
        allowed = fcc.get("allowedFunctionNames")
        if allowed and (fcc["mode"] != "ANY" or not set(allowed) <= names):
            raise Invalid("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
                          "only allowed with mode ANY and must name declared functions")
    gen = body.get("generationConfig") or {}
    for key in gen:
        if key not in GENERATION_CONFIG:
            raise unknown_field(key, "generation_config")
    thinking = gen.get("thinkingConfig") or {}
    for key in thinking:
        if key not in THINKING_CONFIG:
            raise unknown_field(key, "generation_config.thinking_config")
    if "thinkingLevel" in thinking:
        if "thinkingBudget" in thinking:
            raise Invalid("You can only set one of thinking budget and thinking level.")
        levels = _thinking_levels(model)
        if levels is None:
            raise Invalid("Thinking level is not supported for this model.")
        if thinking["thinkingLevel"] not in levels:
            raise Invalid(f"Thinking level {thinking['thinkingLevel']} is not supported for this model. "
                          f"Supported levels: {', '.join(sorted(levels))}.")
    if "responseSchema" in gen:
        check_schema(gen["responseSchema"], "generation_config.response_schema")
    if "temperature" in gen and not 0 <= gen["temperature"] <= 2:
        raise Invalid("* GenerateContentRequest.generation_config.temperature: must be in [0, 2]")


# --- answers ------------------------------------------------------------------------------------


def _last_user_parts(contents: list) -> list:
    for content in reversed(contents):
        if content.get("role", "user") == "user":
            return content["parts"]
    return []


@dataclass
class Answer:
    parts: list[dict[str, Any]]
    finish: str = "STOP"
    thoughts: str | None = None


def plan_answer(body: dict, model: str) -> Answer:
    contents = body["contents"]
    last = _last_user_parts(contents)
    gen = body.get("generationConfig") or {}
    responses = [p["functionResponse"] for p in last if "functionResponse" in p]
    declarations = [d for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode", "AUTO")
    thoughts = "Let me think about this." if (gen.get("thinkingConfig") or {}).get("includeThoughts") else None
    if responses:
        said = "; ".join(json.dumps(r["response"], sort_keys=True, ensure_ascii=False) for r in responses)
        text = f"The tool said: {said}"
    elif declarations and mode != "NONE":
        allowed = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("allowedFunctionNames")
        names = allowed or [d["name"] for d in declarations]
        count = 2 if model.startswith("parallel") else 1
        parts = [{"functionCall": {"name": names[i % len(names)], "args": dict(TOOL_ARGS, call=i) if count > 1 else TOOL_ARGS},
                  "thoughtSignature": SIGNATURE if i == 0 else None} for i in range(count)]
        for part in parts:
            if part["thoughtSignature"] is None:
                del part["thoughtSignature"]
        return Answer(parts, thoughts=thoughts)
    else:
        media = [p.get("inlineData") or p.get("fileData") for p in last if "inlineData" in p or "fileData" in p]
        if media:
            m = media[0]
            size = f"{len(base64.b64decode(m['data']))} bytes" if "data" in m else m["fileUri"]
            text = f"I see {m['mimeType']} ({size})"
        else:
            text = "echo: " + " ".join(p["text"] for p in last if "text" in p)
    if gen.get("responseMimeType") == "application/json":
        text = json.dumps({"answer": text})
    finish = "STOP"
    limit = gen.get("maxOutputTokens")
    words = text.split(" ")
    if limit is not None and len(words) > limit:
        text, finish = " ".join(words[:limit]), "MAX_TOKENS"
    return Answer([{"text": text}], finish, thoughts)


def usage(body: dict, answer: Answer, final: bool = True) -> dict[str, Any]:
    prompt = sum(len(json.dumps(c)) // 16 + 1 for c in body["contents"])
    meta: dict[str, Any] = {"promptTokenCount": prompt, "totalTokenCount": prompt}
    if final:
        out = sum(len(json.dumps(p)) // 8 + 1 for p in answer.parts)
        meta["candidatesTokenCount"] = out
        meta["totalTokenCount"] = prompt + out
        meta["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
        if answer.thoughts:
            meta["thoughtsTokenCount"] = 7
            meta["totalTokenCount"] += 7
        if body.get("cachedContent"):
            meta["cachedContentTokenCount"] = prompt // 2
    return meta


def logprobs_result(text: str, top: int) -> dict[str, Any]:
    """One step per word-ish token (" word"), each with a made-up log probability and `top` alternatives."""
    tokens = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
    return {
        "topCandidates": [{"candidates": [{"token": t, "tokenId": 7, "logProbability": -0.25}] +
                           [{"token": f"alt{k}", "tokenId": 8 + k, "logProbability": -2.0 - k} for k in range(max(top - 1, 0))]}
                          for t in tokens],
        "chosenCandidates": [{"token": t, "tokenId": 7, "logProbability": -0.25} for t in tokens],
    }


def with_logprobs(candidate: dict, body: dict) -> dict:
    gen = body.get("generationConfig") or {}
    texts = [p["text"] for p in candidate["content"]["parts"] if "text" in p and not p.get("thought")]
    if gen.get("responseLogprobs") and texts:
        candidate["logprobsResult"] = logprobs_result("".join(texts), gen.get("logprobs") or 0)
    return candidate


def full_response(body: dict, model: str, answer: Answer) -> dict[str, Any]:
    n = (body.get("generationConfig") or {}).get("candidateCount") or 1
    parts = ([{"text": answer.thoughts, "thought": True}] if answer.thoughts else []) + answer.parts
    return {
        "candidates": [with_logprobs({"content": {"parts": parts, "role": "model"}, "finishReason": answer.finish, "index": i,
                                      "avgLogprobs": -0.1}, body) for i in range(n)],
        "usageMetadata": usage(body, answer),
        "modelVersion": model + MODEL_VERSION_SUFFIX,
        "responseId": RESPONSE_ID,
    }


def stream_responses(body: dict, model: str, answer: Answer) -> list[dict[str, Any]]:
    """The answer cut the way Gemini streams it: text in small pieces, each function call whole,
    finishReason and the final usage on the last chunk."""
    pieces: list[dict[str, Any]] = []
    if answer.thoughts:
        pieces.append({"text": answer.thoughts, "thought": True})
    for part in answer.parts:
        if "text" in part:
            words = part["text"].split(" ")
            for i in range(0, len(words), 2):
                text = " ".join(words[i:i + 2]) + (" " if i + 2 < len(words) else "")
                pieces.append({"text": text})
        else:
            pieces.append(part)
    out = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        candidate: dict[str, Any] = with_logprobs({"content": {"parts": [piece], "role": "model"}, "index": 0}, body)
        if last:
            candidate["finishReason"] = answer.finish
        out.append({"candidates": [candidate], "usageMetadata": usage(body, answer, final=last),
                    "modelVersion": model + MODEL_VERSION_SUFFIX, "responseId": RESPONSE_ID})
    return out


def vector(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % len(digest)] - 127.5) / 127.5, 6) for i in range(dims)]


# --- the app ------------------------------------------------------------------------------------


@dataclass
class VertexAccount:
    project: str
    location: str
    client_email: str = ""
    public_key: Any = None  # cryptography RSAPublicKey, set once the key file exists
    token_ttl: int = 3599
    token_delay: float = 0.0
    token_failures: int = 0  # the first N exchanges answer 503, as the token endpoint does in an outage
    # An authorized_user file (gcloud auth application-default login) refreshes with these.
    client_id: str = "fake-client.apps.googleusercontent.com"
    client_secret: str = "fake-client-secret"
    refresh_token: str = "1//fake-refresh-token"


def make_app(api_key: str = "fake-gemini-key", vertex: VertexAccount | None = None) -> web.Application:
    app = web.Application()
    tokens: dict[str, float] = {}  # issued access token -> expiry (epoch seconds)
    app["tokens"] = tokens  # other token issuers on this fake (gcp_auth_upstream) add theirs here
    issued_signatures: set[str] = set()

    def fake(request: web.Request) -> FakeServer:
        return request.app["fake"]

    async def generate(request: web.Request, model: str, method: str, is_vertex: bool) -> web.StreamResponse:
        if model == "error-context":
            return google_error(400, CONTEXT_MESSAGE)
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            messages = {429: "Resource has been exhausted (e.g. check quota).", 500: "An internal error has occurred. "
                        "Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
                        503: "The model is overloaded. Please try again later.", 404: f"models/{model} is not found"}
            return google_error(status, messages.get(status, f"fake error {status}"))
        try:
            body = json.loads(await request.read())
        except ValueError:
            return google_error(400, "Invalid JSON payload received. Unexpected token.")
        if method == "batchEmbedContents" and not is_vertex:
            return embed(body, model)
        if method == "predict" and is_vertex:
            return await predict(request, body, model)
        if method not in ("generateContent", "streamGenerateContent"):
            return google_error(404, f"Method {method} not found.")
        try:
            validate(body, is_vertex, issued_signatures, model)
        except Invalid as exc:
            return google_error(400, str(exc))
        if model == "blocked":
            blocked = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
                       "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3},
                       "modelVersion": model, "responseId": RESPONSE_ID}
            if method == "generateContent":
                return web.json_response(blocked)
            return await sse(request, [blocked])
        answer = plan_answer(body, model)
        if model == "stream-error" and method == "streamGenerateContent":
            # Two chunks, then the error object Google puts in the stream when generation fails late.
            chunks = stream_responses(body, model, answer)[:2]
            chunks.append({"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}})
            return await sse(request, chunks)
        for part in answer.parts:
            if part.get("thoughtSignature"):
                issued_signatures.add(part["thoughtSignature"])
        if method == "generateContent":
            return web.json_response(full_response(body, model, answer))
        chunks = stream_responses(body, model, answer)
        if request.query.get("alt") != "sse":  # without alt=sse Google streams one JSON array
            return web.json_response(chunks)
        return await sse(request, chunks)

    async def sse(request: web.Request, chunks: list[dict]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        for chunk in chunks:
            await resp.write(b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\r\n\r\n")
            await asyncio.sleep(0.005)
        await resp.write_eof()
        return resp

    def embed(body: dict, model: str) -> web.Response:
        out = []
        for i, req in enumerate(body.get("requests") or []):
            if req.get("model") != f"models/{model}":
                return google_error(400, f"* BatchEmbedContentsRequest.requests[{i}].model: Model names should match "
                                         f"the model in the batch request: models/{model}")
            parts = (req.get("content") or {}).get("parts") or []
            if not parts or any(set(p) != {"text"} for p in parts):
                return google_error(400, f"* BatchEmbedContentsRequest.requests[{i}].content.parts: text parts required")
            out.append({"values": vector(parts[0]["text"], req.get("outputDimensionality") or 8)})
        if not out:
            return google_error(400, "* BatchEmbedContentsRequest.requests: at least one request is required")
        return web.json_response({"embeddings": out})

    async def predict(request: web.Request, body: dict, model: str) -> web.Response:
        instances = body.get("instances")
        if not instances:
            return google_error(400, "Invalid JSON payload: instances is required")
        # Vertex's per-model instance limits (text-embeddings-api reference): gemini-embedding-001
        # takes a single input per request, the text-embedding models up to 250.
        limit = PREDICT_INSTANCE_LIMITS.get(model, 250)
        if len(instances) > limit:
            return google_error(400, f"{limit} instance(s) is allowed per prediction. Actual: {len(instances)}")
        # In-flight requests, so a test can see how many the gateway runs at once.
        fake_server = request.app["fake"]
        fake_server.bump("predict_in_flight")
        fake_server.events["predict_peak"] = max(fake_server.events.get("predict_peak", 0),
                                                 fake_server.events["predict_in_flight"])
        try:
            await asyncio.sleep(0.01 if limit == 1 else 0)
        finally:
            fake_server.events["predict_in_flight"] -= 1
        dims = (body.get("parameters") or {}).get("outputDimensionality") or 8
        preds = [{"embeddings": {"values": vector(inst["content"], dims),
                                 "statistics": {"token_count": len(inst["content"].split()), "truncated": False}}}
                 for inst in instances]
        return web.json_response({"predictions": preds, "metadata": {"billableCharacterCount": 10}})

    async def gemini_route(request: web.Request, is_vertex: bool = False) -> web.StreamResponse:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            return google_error(403, "Method doesn't allow unregistered callers (callers without established identity). "
                                     "Please use API Key or other form of API consumer identity to call this API.")
        if key != api_key:
            return google_error(400, "API key not valid. Please pass a valid API key.", details=[
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}])
        model, sep, method = request.match_info["tail"].partition(":")
        if not sep:
            return google_error(404, "Requested entity was not found.")
        return await generate(request, model, method, is_vertex=is_vertex)

    async def express_route(request: web.Request) -> web.StreamResponse:
        # Vertex AI express mode: the global host, an API key, no project or location in the path.
        return await gemini_route(request, is_vertex=True)

    async def list_models(request: web.Request) -> web.Response:
        if request.headers.get("x-goog-api-key") != api_key:
            return google_error(400, "API key not valid. Please pass a valid API key.")
        return web.json_response({"models": [
            {"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent", "countTokens"]},
            {"name": "models/gemini-embedding-001", "supportedGenerationMethods": ["embedContent"]},
            # In no catalogue: only a working refresh of the live list can show it.
            {"name": f"models/{LIVE_ONLY_MODEL}", "supportedGenerationMethods": ["generateContent"]},
        ]})

    async def vertex_route(request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or tokens.get(token, 0) < time.time():
            return google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                     "login cookie or other valid authentication credential. See "
                                     "https://developers.google.com/identity/sign-in/web/devconsole-project.")
        assert vertex is not None
        info = request.match_info
        if info["project"] != vertex.project:
            return google_error(403, f"Permission denied on resource project {info['project']}.")
        if info["location"] != vertex.location:
            return google_error(404, f"Publisher Model `projects/{info['project']}/locations/{info['location']}/"
                                     f"publishers/google/models/...` was not found or your project does not have access to it.")
        model, sep, method = info["tail"].partition(":")
        if not sep:
            return google_error(404, "Requested entity was not found.")
        return await generate(request, model, method, is_vertex=True)

    async def token_endpoint(request: web.Request) -> web.Response:
        assert vertex is not None
        fake(request).bump("token_exchanges")
        if vertex.token_delay:
            await asyncio.sleep(vertex.token_delay)
        if fake(request).events["token_exchanges"] <= vertex.token_failures:
            return web.json_response({"error": "internal_failure", "error_description": "Backend Error"}, status=503)
        if not request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return web.json_response({"error": "invalid_request", "error_description": "Bad content type"}, status=400)
        form = {k: v[0] for k, v in parse_qs((await request.read()).decode()).items()}
        grant = form.get("grant_type")
        if grant == "refresh_token":
            if (form.get("client_id"), form.get("client_secret")) != (vertex.client_id, vertex.client_secret):
                return web.json_response({"error": "invalid_client", "error_description": "Unauthorized"}, status=401)
            problem = None if form.get("refresh_token") == vertex.refresh_token else "Token has been expired or revoked."
        elif grant == JWT_BEARER:
            # Google's documented audience is always this URL, whatever host the token_uri names
            # (https://developers.google.com/identity/protocols/oauth2/service-account#jwt-auth).
            problem = check_assertion(form.get("assertion", ""), vertex, "https://oauth2.googleapis.com/token")
        else:
            return web.json_response({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, status=400)
        if problem:
            return web.json_response({"error": "invalid_grant", "error_description": problem}, status=400)
        token = f"ya29.fake-{fake(request).events['token_exchanges']}"
        tokens[token] = time.time() + vertex.token_ttl
        return web.json_response({"access_token": token, "expires_in": vertex.token_ttl, "token_type": "Bearer"})

    app.router.add_get("/v1beta/models", list_models)
    app.router.add_post("/v1beta/models/{tail}", gemini_route)
    app.router.add_post("/v1/projects/{project}/locations/{location}/publishers/google/models/{tail}", vertex_route)
    app.router.add_post("/v1/publishers/google/models/{tail}", express_route)
    app.router.add_post("/token", token_endpoint)
    return app


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_assertion(assertion: str, account: VertexAccount, audience: str) -> str | None:
    """Verify the JWT the way Google's token endpoint does: RS256 signature, iss, aud, scope, times."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    pieces = assertion.split(".")
    if len(pieces) != 3:
        return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
    try:
        header, claims = json.loads(_unb64(pieces[0])), json.loads(_unb64(pieces[1]))
        account.public_key.verify(_unb64(pieces[2]), f"{pieces[0]}.{pieces[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return "Invalid JWT Signature."
    except ValueError:
        return "Invalid JWT: malformed."
    now = time.time()
    if header.get("alg") != "RS256":
        return "Invalid JWT: alg must be RS256."
    if claims.get("iss") != account.client_email:
        return "Invalid JWT: iss does not match a service account."
    if claims.get("aud") != audience:
        return f"Invalid JWT: aud must be {audience}."
    if "https://www.googleapis.com/auth/cloud-platform" not in str(claims.get("scope", "")).split():
        return "Invalid JWT: scope is missing."
    iat, exp = claims.get("iat", 0), claims.get("exp", 0)
    if not (iat - 300 <= now <= exp) or exp - iat > 3600:
        return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
    return None


def make_service_account(token_uri: str, project: str = "test-project") -> tuple[dict[str, Any], Any]:
    """A fresh service-account key file (as a dict) and its public key; generated, never stored."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "0123456789abcdef",
        "private_key": pem.decode(),
        "client_email": f"llmg-test@{project}.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    return info, key.public_key()


def start(api_key: str = "fake-gemini-key", vertex: VertexAccount | None = None) -> FakeServer:
    return FakeServer(make_app(api_key, vertex)).start()
