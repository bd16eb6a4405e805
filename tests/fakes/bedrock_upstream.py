"""A fake Amazon Bedrock Runtime: Converse / ConverseStream with SigV4 checks and event-stream frames.

Built from AWS's public references:
  SigV4         https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
  Converse      https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
  stream        https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html
  framing       https://docs.aws.amazon.com/lexv2/latest/dg/event-stream-encoding.html
  errors        https://docs.aws.amazon.com/bedrock/latest/userguide/troubleshooting-api-error-codes.html

- ``POST /model/{modelId}/converse`` and ``/converse-stream``, and ``/invoke`` for the Titan Text
  Embeddings (one ``inputText``; v2: ``dimensions`` 256/512/1024, ``normalize``) and Cohere Embed
  (``texts`` up to 96 of 2048 characters, ``input_type`` required, ``embedding_types``) models, with
  their "Malformed input request" ValidationExceptions; anything else 404 UnknownOperationException.
- Every request's signature is recomputed here, independently of ``llmg.sigv4``, from the raw
  request line and headers: the canonical URI is the raw path encoded once more (so a model id
  sent as ``v1%3A0`` is signed as ``v1%253A0``), the payload hash comes from the body received.
  A mismatch gets Bedrock's real 403 InvalidSignatureException body (with the canonical request
  and string to sign it expected); an unknown key 403 UnrecognizedClientException; a missing
  header 403 MissingAuthenticationTokenException; a credential scoped to another service or
  region 403 InvalidSignatureException; a temporary key (``ASIA...``) without its session token
  403 UnrecognizedClientException.
- The JSON body is checked against the Bedrock Runtime service model AWS publishes (the one
  botocore ships): types, required members, unions with exactly one member, enums, numeric and
  length ranges, patterns; unknown members are rejected (the real service is, if anything, more
  lenient there). On top of that, the rules the real API enforces: a conversation starts with a
  user turn and alternates roles, text blocks are not blank, toolUse/toolResult blocks need a
  toolConfig, every toolUse is answered by a toolResult in the next user turn and every toolResult
  names a toolUse of the previous turn, image bytes are base64 of an image of the stated format, and
  a toolChoice member the model family does not take is refused with Bedrock's own message, and
  Claude's extended-thinking rules (no forced tool choice, temperature 1, top_p >= 0.95, no top_k,
  budget_tokens >= 1024 below maxTokens) are refused as the model's ValidationException.
- A key a credential fake marked ``expired:<key>`` (past its Expiration): 403 ExpiredTokenException.
- Errors: ``{"message": ...}`` with ``x-amzn-ErrorType: <Name>:http://internal.amazon.com/coral/...``
  and ``x-amzn-RequestId``, with the real statuses.
- Streams: ``application/vnd.amazon.eventstream`` frames (headers ``:event-type``,
  ``:content-type``, ``:message-type``; both CRC32s), payloads with the ``p`` padding field the
  real service adds; each frame is written in two pieces so decoders see split frames.

Behaviour by model id:
  fake.throttle-v1:0 / fake.denied-v1:0 / fake.internal-v1:0 / fake.unavailable-v1:0 / fake.timeout-v1:0
                   that error (429 / 403 / 500 / 503 / 408)
  fake.stream-throttle-v1:0   a stream with some text, then a throttlingException frame
  fake.stream-cut-v1:0        a stream cut in the middle of a frame
  nope.*                      400 "The provided model identifier is invalid."
  *reasoning*                 a signed reasoningContent block before the answer (signature = sign(text))
  *redacted*                  (with *reasoning*) also a redactedContent reasoning block
  *cache*                     usage with cacheReadInputTokens / cacheWriteInputTokens
  cachePoint blocks           the prefix up to the last one is "cached": cacheWriteInputTokens the first
                              time, cacheReadInputTokens when the same prefix comes again
  anything else: tools offered and the last turn holds no toolResult -> toolUse blocks (the forced
  tool, or the first offered one, or the first two if the user text says "parallel"), after a
  short text block; the last turn holds tool results -> "Tool said: <results>"; otherwise
  "echo: <last user text>" (+ " [image:<format>:<bytes>]" per image). maxTokens truncates
  (stopReason max_tokens), a stop sequence cuts the answer (stop_sequence).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import struct
import uuid
import zlib
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from . import anthropic_upstream
from .server import FakeServer

# The exact JSON text the fake streams as each tool's input (spacing included).
TOOL_INPUTS = ['{"location": "Paris, France", "unit": "celsius"}', '{"query": "caf\\u00e9 \\"open\\" now", "limit": 3}']
TOOL_USE_IDS = ["tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "tooluse_Hs2bqZ4RSa2s7L3fBpr0Mw"]
REASONING = "The user wants an echo. I will echo."
PREAMBLE = "Let me look that up."
ERROR_NS = "http://internal.amazon.com/coral/com.amazon.bedrock/"
PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "gif": b"GIF8", "webp": b"RIFF"}
BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                 "Secret Access Key and signing method. Consult the service documentation for details.")
SPECIAL = {
    "fake.throttle-v1:0": (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    "fake.denied-v1:0": (403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
    "fake.internal-v1:0": (500, "InternalServerException", "The server encountered an internal error while processing the request."),
    "fake.unavailable-v1:0": (503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
    "fake.timeout-v1:0": (408, "ModelTimeoutException", "Model has timed out in processing the request. Try your request again."),
}


class Rejected(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def invalid(message: str) -> Rejected:
    return Rejected(400, "ValidationException", message)


def error_response(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status, headers={
        "x-amzn-ErrorType": f"{kind}:{ERROR_NS}", "x-amzn-RequestId": str(uuid.uuid4())})


# --- event-stream frames (written from the framing spec, independently of llmg.eventstream) -------


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value
    total = 16 + len(encoded) + len(payload)
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(kind: str, body: dict[str, Any]) -> bytes:
    payload = json.dumps({**body, "p": PADDING[: 1 + len(kind) % 40]}, separators=(",", ":")).encode()
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"}, payload)


def exception_frame(kind: str, message: str) -> bytes:
    return frame({":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
                 json.dumps({"message": message}).encode())


# --- SigV4 verification -----------------------------------------------------------------------

_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,\s*"
                   r"SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$")


def _enc(text: str, safe: str = "") -> str:
    return quote(text, safe=safe + "-_.~")


def expected_signature(request: web.Request, body: bytes, secret: str, date: str, region: str, signed: list[str]) -> tuple[str, str, str]:
    """(canonical request, string to sign, signature) as AWS computes them for this request."""
    raw_path, _, raw_query = request.raw_path.partition("?")
    canonical_uri = "/".join(_enc(segment) for segment in raw_path.split("/")) or "/"
    pairs = []
    for item in raw_query.split("&") if raw_query else []:
        name, _, value = item.partition("=")
        pairs.append((_enc(unquote(name)), _enc(unquote(value))))
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    lines = []
    for name in signed:
        values = request.headers.getall(name, [])
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    amz_date = request.headers.get("x-amz-date", "")
    creq = "\n".join([request.method, canonical_uri, canonical_query, "".join(lines), ";".join(signed),
                      hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{region}/bedrock/aws4_request"
    sts = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
    key = ("AWS4" + secret).encode()
    for part in (date, region, "bedrock", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return creq, sts, hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def verify(request: web.Request, body: bytes, credentials: dict[str, tuple[str, str | None]], region: str) -> None:
    header = request.headers.get("Authorization")
    if not header:
        raise Rejected(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    if header.startswith("Bearer "):
        # A Bedrock API key (AWS_BEARER_TOKEN_BEDROCK): no signature; known keys are stored as
        # credentials["bearer:<key>"].
        if "bearer:" + header.removeprefix("Bearer ") not in credentials:
            raise Rejected(403, "UnrecognizedClientException", "Authentication failed: Please make sure your API Key is valid.")
        return
    match = _AUTH.match(header)
    if not match:
        raise Rejected(400, "IncompleteSignatureException",
                       f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization={header[:40]}")
    access, date, scope_region, service, signed_list, signature = match.groups()
    if "expired:" + access in credentials:  # a credential issuer marked it past its Expiration
        raise Rejected(403, "ExpiredTokenException", "The security token included in the request is expired")
    if access not in credentials:
        raise Rejected(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    secret, token = credentials[access]
    if token is not None and request.headers.get("x-amz-security-token") != token:
        raise Rejected(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    if service != "bedrock":
        raise Rejected(403, "InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'. ")
    if scope_region != region:
        raise Rejected(403, "InvalidSignatureException",
                       f"Credential should be scoped to a valid region, not '{scope_region}'. ")
    signed = signed_list.split(";")
    if "host" not in signed or "x-amz-date" not in signed or signed != sorted(signed):
        raise Rejected(403, "InvalidSignatureException", "'Host' and 'X-Amz-Date' must be signed, in order.")
    if "x-amz-security-token" in request.headers and "x-amz-security-token" not in signed:
        raise Rejected(403, "InvalidSignatureException", "'X-Amz-Security-Token' must be signed.")
    amz_date = request.headers.get("x-amz-date", "")
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise Rejected(400, "IncompleteSignatureException", f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.") from None
    now = dt.datetime.now(dt.UTC)
    if abs((now - when).total_seconds()) > 300 or amz_date[:8] != date:
        raise Rejected(403, "InvalidSignatureException",
                       f"Signature expired: {amz_date} is now earlier than {now:%Y%m%dT%H%M%SZ} (5 min skew allowed).")
    creq, sts, good = expected_signature(request, body, secret, date, region, signed)
    if not hmac.compare_digest(good, signature):
        raise Rejected(403, "InvalidSignatureException",
                       f"{BAD_SIGNATURE}\n\nThe Canonical String for this request should have been\n'{creq}'\n\n"
                       f"The String-to-Sign should have been\n'{sts}'\n")


# --- request validation against AWS's published service model ------------------------------------

_MODEL: Any = None


def service_model() -> Any:
    global _MODEL
    if _MODEL is None:
        import botocore.session

        _MODEL = botocore.session.get_session().get_service_model("bedrock-runtime")
    return _MODEL


def _describe(value: Any) -> str:
    return "null" if value is None else str(value)[:60]


def check_shape(shape: Any, value: Any, path: str, errors: list[str]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    at = f"at '{path}'"
    if kind == "structure" and meta.get("document"):
        return  # any JSON value
    if kind == "structure":
        if not isinstance(value, dict):
            errors.append(f"Value {_describe(value)} {at} failed to satisfy constraint: Member must be an object")
            return
        members = {k: v for k, v in shape.members.items() if not v.serialization.get("location")}
        for key in value:
            if key not in members:
                errors.append(f"Extraneous key [{key}] {at or 'body'} is not permitted")
        for name in shape.required_members:
            if name in members and value.get(name) is None:
                errors.append(f"Value null at '{path + '.' if path else ''}{name}' failed to satisfy constraint: Member must not be null")
        present = [k for k in value if k in members and value[k] is not None]
        if meta.get("union") and len(present) != 1:
            errors.append(f"Value {at} failed to satisfy constraint: exactly one union member must be set, got {present}")
        for key in present:
            check_shape(members[key], value[key], f"{path + '.' if path else ''}{key}", errors)
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"Value {_describe(value)} {at} failed to satisfy constraint: Member must be a list")
            return
        if "min" in meta and len(value) < meta["min"]:
            errors.append(f"Value {at} failed to satisfy constraint: Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"Value {at} failed to satisfy constraint: Member must have length less than or equal to {meta['max']}")
        for i, item in enumerate(value):
            check_shape(shape.member, item, f"{path}.{i + 1}.member", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"Value {_describe(value)} {at} failed to satisfy constraint: Member must be a map")
            return
        for key, item in value.items():
            check_shape(shape.value, item, f"{path}.{key}", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"Value {_describe(value)} {at} failed to satisfy constraint: Member must be a string")
            return
        if shape.enum and value not in shape.enum:
            errors.append(f"Value '{_describe(value)}' {at} failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        if "min" in meta and len(value) < meta["min"]:
            errors.append(f"Value '{_describe(value)}' {at} failed to satisfy constraint: Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"Value {at} failed to satisfy constraint: Member must have length less than or equal to {meta['max']}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            errors.append(f"Value '{_describe(value)}' {at} failed to satisfy constraint: Member must satisfy regular expression pattern: {meta['pattern']}")
    elif kind in ("integer", "long", "float", "double"):
        number_ok = isinstance(value, int) if kind in ("integer", "long") else isinstance(value, (int, float))
        if isinstance(value, bool) or not number_ok:
            errors.append(f"Value {_describe(value)} {at} failed to satisfy constraint: Member must be a {kind}")
            return
        if "min" in meta and value < meta["min"]:
            errors.append(f"Value '{value}' {at} failed to satisfy constraint: Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            errors.append(f"Value '{value}' {at} failed to satisfy constraint: Member must have value less than or equal to {meta['max']}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"Value {_describe(value)} {at} failed to satisfy constraint: Member must be a boolean")
    elif kind == "blob":
        try:
            if not isinstance(value, str):
                raise ValueError
            base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            errors.append(f"Value {at} failed to satisfy constraint: Member must be base64-encoded bytes")


# toolChoice per model family, from the ToolChoice reference (Claude 3+: auto/any/tool; Mistral Large:
# auto/any; Amazon Nova: auto/any/tool). Models of the other listed families refuse the field.
TOOL_CHOICE_FAMILIES = {"anthropic.claude": {"auto", "any", "tool"}, "amazon.nova": {"auto", "any", "tool"},
                        "mistral.mistral-large": {"auto", "any"}}
NO_TOOL_CHOICE = ("meta.", "amazon.titan", "cohere.", "ai21.", "deepseek.", "mistral.", "writer.", "qwen.", "openai.")


def takes_tool_choice(model_id: str, member: str) -> bool:
    name = model_id.split("/")[-1]
    if name.split(".", 1)[0] in ("us", "eu", "apac", "global"):
        name = name.split(".", 1)[1]
    for family, members in TOOL_CHOICE_FAMILIES.items():
        if name.startswith(family):
            return member in members
    return not name.startswith(NO_TOOL_CHOICE)  # fake.* test models take everything


NO_CACHE = ("meta.", "amazon.titan", "cohere.", "ai21.", "mistral.", "deepseek.", "writer.", "qwen.", "openai.")


def check_cache_points(body: dict[str, Any], model_id: str) -> None:
    """Prompt caching: Claude and Nova models only, at most 4 checkpoints, never as the first block."""
    sections = {"toolConfig.tools": (body.get("toolConfig") or {}).get("tools") or [], "system": body.get("system") or []}
    for i, message in enumerate(body.get("messages") or []):
        sections[f"messages.{i}.content"] = message["content"]
    count = 0
    for where, blocks in sections.items():
        for j, block in enumerate(blocks):
            if "cachePoint" in block:
                count += 1
                if j == 0:
                    raise invalid(f"The cachePoint at {where}.{j} must follow the content it caches.")
    if not count:
        return
    name = model_id.split("/")[-1]
    if name.split(".", 1)[0] in ("us", "eu", "apac", "global"):
        name = name.split(".", 1)[1]
    if name.startswith(NO_CACHE):
        raise invalid("You invoked an unsupported model or your request did not allow prompt caching. "
                      "See the documentation for more information.")
    if count > 4:
        raise invalid(f"A maximum of 4 blocks with cache_control may be provided. Found {count}.")


def check_reasoning(messages: list[dict[str, Any]], body: dict[str, Any]) -> None:
    """Claude's rules for reasoning sent back: a reasoningText's signature must be the one issued for
    that text; with thinking on, an assistant turn holding toolUse must start with its reasoning."""
    for i, message in enumerate(messages):
        for j, block in enumerate(message["content"]):
            text = (block.get("reasoningContent") or {}).get("reasoningText")
            if text is not None and text.get("signature") != sign(text["text"]):
                raise invalid(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")
    thinking = ((body.get("additionalModelRequestFields") or {}).get("thinking") or {}).get("type") == "enabled"
    assistant = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if thinking and assistant:  # the rule is for the final assistant turn (the current tool loop)
        i = assistant[-1]
        content = messages[i]["content"]
        if any("toolUse" in b for b in content) and "reasoningContent" not in content[0]:
            raise invalid(f"messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                          f"`{next(iter(content[0]))}`. When `thinking` is enabled, a final `assistant` message must "
                          "start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).")


def check_claude_thinking(body: dict[str, Any], model_id: str) -> None:
    """Claude on Bedrock: Converse merges ``additionalModelRequestFields`` into the Anthropic request
    it hands the model, so extended thinking's rules hold as on Anthropic's API (a forced tool
    choice, temperature != 1, top_p < 0.95, top_k, a budget < 1024, max_tokens not above it), and
    the model's refusal comes back as a ValidationException ("The model returned the following
    errors: ..."). The rules themselves are the Anthropic fake's, applied to that merged request."""
    if not base_model_id(model_id).startswith("anthropic.claude"):
        return
    extra = body.get("additionalModelRequestFields") or {}
    inference = body.get("inferenceConfig") or {}
    merged: dict[str, Any] = {**extra, "max_tokens": inference.get("maxTokens", 1 << 20)}
    for converse_name, anthropic_name in (("temperature", "temperature"), ("topP", "top_p")):
        if converse_name in inference:
            merged[anthropic_name] = inference[converse_name]
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    if choice:
        merged["tool_choice"] = {"type": next(iter(choice))}
    try:
        anthropic_upstream._thinking_rules(merged)
    except anthropic_upstream.Invalid as exc:
        raise invalid(f"The model returned the following errors: {exc}") from None


def base_model_id(model_id: str) -> str:
    name = model_id.split("/")[-1]
    if name.split(".", 1)[0] in ("us", "eu", "apac", "global"):
        name = name.split(".", 1)[1]
    return name


def validate(operation: str, body: dict[str, Any], model_id: str = "") -> None:
    model = service_model()
    shape = model.operation_model(operation).input_shape
    errors: list[str] = []
    check_shape(shape, body, "", errors)
    if errors:
        count = len(errors)
        raise invalid(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors[:10]))
    messages = body.get("messages") or []
    if not messages:
        raise invalid("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
    if messages[0]["role"] != "user":
        raise invalid("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
    uses_tools = False
    previous_uses: list[str] = []
    for i, message in enumerate(messages):
        if i and message["role"] == messages[i - 1]["role"]:
            raise invalid("A conversation must alternate between user and assistant roles. Make sure the conversation "
                          "alternates between user and assistant roles and try again.")
        if not message["content"]:
            raise invalid(f"The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again.")
        uses: list[str] = []
        results: list[str] = []
        for j, block in enumerate(message["content"]):
            if "text" in block and not block["text"].strip():
                raise invalid(f"The text field in the ContentBlock object at messages.{i}.content.{j} is blank. "
                              "Add text to the text field, and try again.")
            if "toolUse" in block:
                if message["role"] != "assistant":
                    raise invalid(f"messages.{i}.content.{j}: toolUse blocks are only allowed in assistant messages")
                uses.append(block["toolUse"]["toolUseId"])
            if "toolResult" in block:
                if message["role"] != "user":
                    raise invalid(f"messages.{i}.content.{j}: toolResult blocks are only allowed in user messages")
                if results is not None and j != len(results):
                    raise invalid(f"messages.{i}: toolResult blocks must come before any other content")
                results.append(block["toolResult"]["toolUseId"])
            if "image" in block:
                image = block["image"]
                data = base64.b64decode(image["source"].get("bytes", ""))
                if not data.startswith(MAGIC[image["format"]]):
                    raise invalid(f"messages.{i}.content.{j}.image.source: Could not process image: the bytes are not a {image['format']} image")
        uses_tools = uses_tools or bool(uses or results)
        for tool_id in results:
            if tool_id not in previous_uses:
                raise invalid(f"messages.{i}: unexpected toolUseId {tool_id} found in toolResult blocks. Each toolResult "
                              "block must have a corresponding toolUse block in the previous turn.")
        if previous_uses and sorted(results) != sorted(previous_uses):
            raise invalid(f"messages.{i}: toolUse ids were found without toolResult blocks immediately after: "
                          f"{', '.join(sorted(set(previous_uses) - set(results)))}. Each toolUse block must have a "
                          "corresponding toolResult block in the next turn.")
        previous_uses = uses
    if uses_tools and not body.get("toolConfig"):
        raise invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    names = [t["toolSpec"]["name"] for t in (body.get("toolConfig") or {}).get("tools", []) if "toolSpec" in t]
    if "tool" in choice and choice["tool"]["name"] not in names:
        raise invalid(f"The tool {choice['tool']['name']} in toolChoice is not in the toolConfig tools list.")
    check_reasoning(messages, body)
    check_cache_points(body, model_id)
    check_claude_thinking(body, model_id)
    for member in choice:
        if not takes_tool_choice(model_id, member):
            raise invalid(f"This model doesn't support the toolConfig.toolChoice.{member} field. "
                          f"Remove toolConfig.toolChoice.{member} and try again.")


# --- answers ----------------------------------------------------------------------------------


def _words(text: str) -> int:
    return len(text.split())


def sign(text: str) -> str:
    """The fake's reasoning signature: bound to the text, as Claude's are (edited text fails)."""
    return base64.b64encode(hashlib.sha256(b"fake-bedrock-reasoning:" + text.encode()).digest()).decode()


REDACTED = base64.b64encode(b"\x00encrypted-reasoning\x01").decode()


CACHED: set[str] = set()  # prefixes "written to the cache" (process-wide, like the real cache per account)


def cached_prefix(body: dict[str, Any]) -> str | None:
    """The request text up to its last cachePoint (tools, then system, then messages), or None."""
    sections = [(body.get("toolConfig") or {}).get("tools") or [], body.get("system") or []]
    sections += [m["content"] for m in body.get("messages") or []]
    flat = [block for section in sections for block in section]
    last = max((n for n, block in enumerate(flat) if "cachePoint" in block), default=None)
    if last is None:
        return None
    return " ".join(json.dumps(block, sort_keys=True) for block in flat[:last])


def plan_answer(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """What to answer: blocks (text/reasoning/toolUse with exact input text), stopReason, usage."""
    messages = body["messages"]
    last = messages[-1]
    prompt_text = " ".join(b.get("text", "") for m in messages for b in m["content"] if "text" in b)
    prompt_text += " " + " ".join(s.get("text", "") for s in body.get("system", []))
    results = [b["toolResult"] for b in last["content"] if "toolResult" in b]
    tools = [t["toolSpec"] for t in (body.get("toolConfig") or {}).get("tools", []) if "toolSpec" in t]
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    user_text = " ".join(b["text"] for b in last["content"] if "text" in b)
    blocks: list[dict[str, Any]] = []
    if "reasoning" in model_id:
        blocks.append({"reasoning": REASONING})
        if "redacted" in model_id:
            blocks.append({"redacted": REDACTED})
    stop = "end_turn"
    if tools and not results:
        if "tool" in choice:
            chosen = [next(t for t in tools if t["name"] == choice["tool"]["name"])]
        elif "parallel" in user_text:
            chosen = tools[:2]
        else:
            chosen = tools[:1]
        blocks.append({"text": PREAMBLE})
        for n, tool in enumerate(chosen):
            blocks.append({"toolUse": {"toolUseId": TOOL_USE_IDS[n], "name": tool["name"], "input": TOOL_INPUTS[n]}})
        stop = "tool_use"
    else:
        if results:
            said = []
            for result in results:
                for part in result["content"]:
                    said.append(json.dumps(part["json"], sort_keys=True) if "json" in part else part.get("text", ""))
            answer = "Tool said: " + " | ".join(said)
        else:
            images = [b["image"] for b in last["content"] if "image" in b]
            answer = f"echo: {user_text}" + "".join(
                f" [image:{im['format']}:{len(base64.b64decode(im['source']['bytes']))}]" for im in images)
        config = body.get("inferenceConfig") or {}
        for sequence in config.get("stopSequences") or []:
            if sequence and sequence in answer:
                answer = answer[: answer.index(sequence)]
                stop = "stop_sequence"
                break
        limit = config.get("maxTokens")
        if limit is not None and _words(answer) > limit:
            answer = " ".join(answer.split()[:limit])
            stop = "max_tokens"
        blocks.append({"text": answer})
    output_tokens = sum(_words(b.get("text", "") or b.get("reasoning", "")) + (5 if "toolUse" in b else 0) for b in blocks)
    usage: dict[str, Any] = {"inputTokens": _words(prompt_text) + 3, "outputTokens": output_tokens}
    if "cache" in model_id:
        usage.update(cacheReadInputTokens=1024, cacheWriteInputTokens=16)
    prefix = cached_prefix(body)
    if prefix is not None:
        tokens = _words(prefix) + 1
        usage["cacheReadInputTokens" if prefix in CACHED else "cacheWriteInputTokens"] = tokens
        CACHED.add(prefix)
    usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"] + usage.get("cacheReadInputTokens", 0) + usage.get("cacheWriteInputTokens", 0)
    return {"blocks": blocks, "stopReason": stop, "usage": usage}


def converse_body(plan: dict[str, Any]) -> dict[str, Any]:
    content = []
    for block in plan["blocks"]:
        if "reasoning" in block:
            content.append({"reasoningContent": {"reasoningText": {"text": block["reasoning"], "signature": sign(block["reasoning"])}}})
        elif "redacted" in block:
            content.append({"reasoningContent": {"redactedContent": block["redacted"]}})
        elif "toolUse" in block:
            use = block["toolUse"]
            content.append({"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"], "input": json.loads(use["input"])}})
        else:
            content.append({"text": block["text"]})
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": plan["stopReason"],
            "usage": plan["usage"], "metrics": {"latencyMs": 412}}


def stream_frames(plan: dict[str, Any]) -> list[bytes]:
    frames = [event_frame("messageStart", {"role": "assistant"})]
    for index, block in enumerate(plan["blocks"]):
        if "toolUse" in block:
            use = block["toolUse"]
            frames.append(event_frame("contentBlockStart", {
                "contentBlockIndex": index, "start": {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}}))
            text = use["input"]
            cuts = [0, 1, len(text) // 3, len(text) // 3 + 1, 2 * len(text) // 3, len(text)]
            for a, b in zip(cuts, cuts[1:]):
                if b > a:
                    frames.append(event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": text[a:b]}}}))
        elif "reasoning" in block:
            for piece in re.findall(r"\S+\s*", block["reasoning"]):
                frames.append(event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"reasoningContent": {"text": piece}}}))
            frames.append(event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"reasoningContent": {"signature": sign(block["reasoning"])}}}))
        elif "redacted" in block:
            frames.append(event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"reasoningContent": {"redactedContent": block["redacted"]}}}))
        else:
            for piece in re.findall(r"\S+\s*|\s+", block["text"]) or [""]:
                frames.append(event_frame("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}}))
        frames.append(event_frame("contentBlockStop", {"contentBlockIndex": index}))
    frames.append(event_frame("messageStop", {"stopReason": plan["stopReason"]}))
    frames.append(event_frame("metadata", {"usage": plan["usage"], "metrics": {"latencyMs": 412}}))
    return frames


# --- the app ----------------------------------------------------------------------------------

# --- InvokeModel for the embedding models (Titan Text Embeddings, Cohere Embed) -------------------
# https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html
# https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed-v3.html
# Bad bodies get the model's JSON-schema style ValidationException ("Malformed input request: ...").

TITAN_V2_DIMENSIONS = (256, 512, 1024)
COHERE_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering", "image")
COHERE_EMBEDDING_TYPES = ("float", "int8", "uint8", "binary", "ubinary")


def malformed(detail: str) -> Rejected:
    return invalid(f"Malformed input request: {detail}, please reformat your input and try again.")


def embedding_vector(text: str, dims: int, normalize: bool = True) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    raw = [(digest[i % len(digest)] - 127.5) / 127.5 + i % 7 / 100 for i in range(dims)]
    if not normalize:
        return [round(v, 6) for v in raw]
    norm = sum(v * v for v in raw) ** 0.5
    return [round(v / norm, 6) for v in raw]


def _keys(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in body:
        if key not in allowed:
            raise malformed(f"#: extraneous key [{key}] is not permitted")


def invoke_titan(model_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    v2 = "v2" in model_id
    _keys(body, ("inputText", "dimensions", "normalize", "embeddingTypes") if v2 else ("inputText",))
    text = body.get("inputText")
    if not isinstance(text, str):
        raise malformed("#: required key [inputText] not found" if text is None else "#/inputText: expected type: String")
    if not text:
        raise malformed("#/inputText: expected minLength: 1, actual: 0")
    if len(text) > 50000:
        raise malformed(f"#/inputText: expected maxLength: 50000, actual: {len(text)}")
    dims = body.get("dimensions", 1024 if v2 else 1536)
    if v2 and dims not in TITAN_V2_DIMENSIONS:
        raise malformed(f"#/dimensions: {dims} is not a valid enum value")
    normalize = body.get("normalize", True)
    if not isinstance(normalize, bool):
        raise malformed("#/normalize: expected type: Boolean")
    tokens = len(text.split()) + 1
    vector = embedding_vector(text, dims, normalize)
    answer: dict[str, Any] = {"embedding": vector, "inputTextTokenCount": tokens}
    if v2:
        answer["embeddingsByType"] = {"float": vector}
    return answer, tokens


def invoke_cohere(model_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    v4 = "embed-v4" in model_id
    _keys(body, ("texts", "images", "input_type", "truncate", "embedding_types", *(("output_dimension", "max_tokens", "inputs") if v4 else ())))
    texts = body.get("texts")
    if "input_type" not in body:
        raise malformed("#: required key [input_type] not found")
    if body["input_type"] not in COHERE_INPUT_TYPES:
        raise malformed(f"#/input_type: {body['input_type']} is not a valid enum value")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise malformed("#: required key [texts] not found" if texts is None else "#/texts: expected type: JSONArray of String")
    if len(texts) > 96:
        raise malformed(f"#/texts: expected maximum item count: 96, found: {len(texts)}")
    for i, text in enumerate(texts):
        if len(text) > 2048:
            raise malformed(f"#/texts/{i}: expected maxLength: 2048, actual: {len(text)}")
    types = body.get("embedding_types")
    if types is not None and (not isinstance(types, list) or any(t not in COHERE_EMBEDDING_TYPES for t in types)):
        raise malformed(f"#/embedding_types: {types} is not a valid enum value")
    dims = body.get("output_dimension", 1536 if v4 else 1024)
    vectors = [embedding_vector(f"{body['input_type']}:{t}", dims) for t in texts]
    answer: dict[str, Any] = {"id": str(uuid.uuid4()), "texts": texts}
    if types is None and not v4:
        answer.update(embeddings=vectors, response_type="embeddings_floats")
    else:
        answer.update(embeddings={t: vectors for t in (types or ["float"])}, response_type="embeddings_by_type")
    return answer, sum(len(t.split()) + 1 for t in texts)


def invoke(model_id: str, raw: bytes) -> tuple[dict[str, Any], int]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise malformed("expected a JSON object") from None
    if not isinstance(body, dict):
        raise malformed("#: expected type: JSONObject")
    if model_id.startswith("amazon.titan-embed-text"):
        return invoke_titan(model_id, body)
    if model_id.startswith("cohere.embed-"):
        return invoke_cohere(model_id, body)
    raise invalid("The provided model identifier is invalid.")


_PATH = re.compile(r"^/model/([^/]+)/(converse|converse-stream|invoke)$")


def make_app(credentials: dict[str, tuple[str, str | None]], region: str = "us-east-1") -> web.Application:
    app = web.Application()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            match = _PATH.match(request.raw_path.partition("?")[0])
            if request.method != "POST" or not match:
                raise Rejected(404, "UnknownOperationException", "")
            verify(request, body, credentials, region)
            model_id, operation = unquote(match.group(1)), match.group(2)
            if model_id in SPECIAL:
                raise Rejected(*SPECIAL[model_id])
            if model_id.startswith("nope."):
                raise invalid("The provided model identifier is invalid.")
            if operation == "invoke":
                return await invoke_response(request, model_id, body)
            try:
                data = json.loads(body)
            except ValueError:
                raise Rejected(400, "SerializationException", "Unable to parse request body as JSON") from None
            validate("ConverseStream" if operation == "converse-stream" else "Converse", data, model_id)
        except Rejected as exc:
            return error_response(exc.status, exc.kind, exc.message)
        plan = plan_answer(model_id, data)
        request_id = str(uuid.uuid4())
        if operation == "converse":
            return web.json_response(converse_body(plan), headers={"x-amzn-RequestId": request_id})
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream",
                                               "x-amzn-RequestId": request_id})
        await response.prepare(request)
        frames = stream_frames(plan)
        if model_id == "fake.stream-throttle-v1:0":
            frames = frames[:3] + [exception_frame("throttlingException", "Too many tokens, please wait before trying again.")]
        try:
            for n, data_frame in enumerate(frames):
                half = len(data_frame) // 2
                await response.write(data_frame[:half])
                await asyncio.sleep(0)
                if model_id == "fake.stream-cut-v1:0" and n == 3:
                    request.transport.close()  # the connection drops mid-frame
                    return response
                await response.write(data_frame[half:])
        except (ConnectionResetError, RuntimeError):
            request.app["fake"].bump("client_gone")
            return response
        await response.write_eof()
        return response

    async def invoke_response(request: web.Request, model_id: str, body: bytes) -> web.Response:
        answer, tokens = invoke(model_id, body)  # Rejected propagates to handle's error answer
        fake_server = request.app["fake"]
        fake_server.bump("invoke_in_flight")
        fake_server.events["invoke_peak"] = max(fake_server.events.get("invoke_peak", 0), fake_server.events["invoke_in_flight"])
        try:
            await asyncio.sleep(0.01)  # long enough for concurrent requests to overlap
        finally:
            fake_server.events["invoke_in_flight"] -= 1
        # InvokeModel reports the token counts in headers as well (the Cohere body has none).
        return web.json_response(answer, headers={"x-amzn-RequestId": str(uuid.uuid4()),
                                                  "X-Amzn-Bedrock-Input-Token-Count": str(tokens)})

    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def start(credentials: dict[str, tuple[str, str | None]], region: str = "us-east-1") -> FakeServer:
    """credentials: access key id -> (secret access key, session token or None)."""
    return FakeServer(make_app(credentials, region)).start()
