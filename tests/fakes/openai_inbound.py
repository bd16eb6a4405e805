"""OpenAI's Responses and legacy Completions endpoints for the fake OpenAI upstream.

Real wire shapes (https://platform.openai.com/docs/api-reference/responses, /completions): the
Responses stream is ``event: <type>`` + ``data: <json>`` with ``sequence_number``, no ``[DONE]``;
completions stream ``data: <text_completion>`` events ending in ``[DONE]``. Answers echo the input,
and ``previous_response_id`` must name a response this fake made (400 otherwise, as OpenAI says).
"""

from __future__ import annotations

import itertools
import json
import time

from aiohttp import web

_ids = itertools.count(1)


def _input_text(value: object) -> str:
    if isinstance(value, str):
        return value
    texts = []
    for item in value if isinstance(value, list) else []:
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [p.get("text", "") for p in content if isinstance(p, dict)]
    return " ".join(texts)


def _response(body: dict, ident: str, text: str, status: str) -> dict:
    item = {"id": f"msg_{ident}", "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}
    return {"id": f"resp_{ident}", "object": "response", "created_at": int(time.time()), "status": status,
            "error": None, "incomplete_details": None, "model": body["model"], "output": [item] if status == "completed" else [],
            "previous_response_id": body.get("previous_response_id"), "parallel_tool_calls": True, "tool_choice": "auto",
            "tools": [], "text": {"format": {"type": "text"}}, "reasoning": {"effort": None, "summary": None},
            "store": True, "truncation": "disabled", "metadata": {},
            "usage": {"input_tokens": 5, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 2,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 7} if status == "completed" else None}


def _event(kind: str, seq: int, **fields: object) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': seq, **fields})}\n\n".encode()


async def responses(request: web.Request, seen: dict[str, str]) -> web.StreamResponse:
    body = await request.json()
    previous = body.get("previous_response_id")
    if previous is not None and previous not in seen:
        return web.json_response({"error": {"message": f"Previous response with id '{previous}' not found.",
                                            "type": "invalid_request_error", "param": "previous_response_id",
                                            "code": "previous_response_not_found"}}, status=400)
    ident = f"fake{next(_ids)}"
    text = "echo: " + _input_text(body.get("input"))
    if previous is not None:
        text += f" (after {seen[previous]})"
    seen[f"resp_{ident}"] = _input_text(body.get("input"))
    if not body.get("stream"):
        return web.json_response(_response(body, ident, text, "completed"))
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    seq = itertools.count()
    item_id = f"msg_{ident}"
    await resp.write(_event("response.created", next(seq), response=_response(body, ident, text, "in_progress")))
    await resp.write(_event("response.in_progress", next(seq), response=_response(body, ident, text, "in_progress")))
    await resp.write(_event("response.output_item.added", next(seq), output_index=0, item={
        "id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}))
    await resp.write(_event("response.content_part.added", next(seq), item_id=item_id, output_index=0, content_index=0,
                            part={"type": "output_text", "text": "", "annotations": []}))
    for word in text.split(" "):
        await resp.write(_event("response.output_text.delta", next(seq), item_id=item_id, output_index=0, content_index=0,
                                delta=word + " ", logprobs=[]))
    final = _response(body, ident, text, "completed")
    await resp.write(_event("response.output_text.done", next(seq), item_id=item_id, output_index=0, content_index=0,
                            text=text, logprobs=[]))
    await resp.write(_event("response.content_part.done", next(seq), item_id=item_id, output_index=0, content_index=0,
                            part=final["output"][0]["content"][0]))
    await resp.write(_event("response.output_item.done", next(seq), output_index=0, item=final["output"][0]))
    await resp.write(_event("response.completed", next(seq), response=final))
    return resp


async def completions(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    prompt = body.get("prompt")
    text = "echo: " + (prompt if isinstance(prompt, str) else " ".join(prompt or []))
    base = {"id": "cmpl-fake123", "object": "text_completion", "created": int(time.time()), "model": body["model"]}
    if not body.get("stream"):
        return web.json_response({**base, "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}],
                                  "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for word in text.split(" "):
        chunk = {**base, "choices": [{"text": word + " ", "index": 0, "logprobs": None, "finish_reason": None}]}
        await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    done = {**base, "choices": [{"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}]}
    await resp.write(b"data: " + json.dumps(done).encode() + b"\n\n" + b"data: [DONE]\n\n")
    return resp


def install(app: web.Application, authorized, unauthorized) -> None:  # type: ignore[no-untyped-def]
    def guarded(handler):  # type: ignore[no-untyped-def]
        async def wrapped(request: web.Request) -> web.StreamResponse:
            return await handler(request) if authorized(request) else unauthorized()
        return wrapped

    seen: dict[str, str] = {}  # response id -> its input text, for previous_response_id

    async def responses_here(request: web.Request) -> web.StreamResponse:
        return await responses(request, seen)

    app.router.add_post("/v1/responses", guarded(responses_here))
    app.router.add_post("/v1/completions", guarded(completions))
