"""The request every scenario sends and the canned answers the fake upstream returns.

The same bytes go to the fake upstream directly and through the gateway; only the model differs
(``gpt-4o`` direct, ``openai/gpt-4o`` via the gateway, which strips the prefix), so both sides do
the same work apart from the proxying.
"""

from __future__ import annotations

import msgspec

MODEL = "gpt-4o"
GATEWAY_MODEL = f"openai/{MODEL}"
UPSTREAM_KEY = "sk-bench-upstream"
GATEWAY_TOKEN = "bench-token"

_MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello to the benchmark in one short sentence."},
]


def request_body(model: str, stream: bool) -> bytes:
    body: dict[str, object] = {"model": model, "messages": _MESSAGES, "max_tokens": 32}
    if stream:
        body["stream"] = True
    return msgspec.json.encode(body)


COMPLETION = msgspec.json.encode(
    {
        "id": "chatcmpl-bench0000000000000000000000",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello, benchmark! Nice and quick.", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 27, "completion_tokens": 8, "total_tokens": 35},
        "system_fingerprint": "fp_bench",
    }
)

_TOKENS = ["Hello", ",", " benchmark", "!", " Nice", " and", " quick", "."]


def _chunk(delta: dict[str, object], finish: str | None = None, usage: object = None) -> bytes:
    payload = {
        "id": "chatcmpl-bench0000000000000000000000",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + msgspec.json.encode(payload) + b"\n\n"


# One SSE event per element: the fake upstream flushes each as its own chunk.
STREAM_EVENTS: list[bytes] = (
    [_chunk({"role": "assistant", "content": ""})]
    + [_chunk({"content": token}) for token in _TOKENS]
    + [_chunk({}, finish="stop"), b"data: [DONE]\n\n"]
)
