"""Gemini's ``GenerateContentResponse`` as msgspec Structs: the typed view the translator reads.

The same shape answers ``generateContent`` and every event of ``streamGenerateContent?alt=sse``,
for the Gemini API and Vertex AI alike. Only the fields the translation uses are declared; msgspec
skips the rest (safety ratings, citations, grounding) while decoding. Parts are one flat Struct:
a part kind added later (executable code, inline data in answers) decodes and is ignored.

Reference: https://ai.google.dev/api/generate-content#generatecontentresponse
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct, field


class FunctionCall(Struct, kw_only=True):
    name: str | None = None
    args: Any = None
    id: str | None = None


class Part(Struct, kw_only=True):
    text: str | None = None
    thought: bool | None = None
    thoughtSignature: str | None = None  # noqa: N815 - Google's field names, as sent
    functionCall: FunctionCall | None = None  # noqa: N815


class Content(Struct, kw_only=True):
    parts: list[Part] = field(default_factory=list)
    role: str | None = None


class LogprobCandidate(Struct, kw_only=True):
    token: str | None = None
    logProbability: float | None = None  # noqa: N815


class TopCandidates(Struct, kw_only=True):
    candidates: list[LogprobCandidate] = field(default_factory=list)


class LogprobsResult(Struct, kw_only=True):
    chosenCandidates: list[LogprobCandidate] = field(default_factory=list)  # noqa: N815
    topCandidates: list[TopCandidates] = field(default_factory=list)  # noqa: N815


class Candidate(Struct, kw_only=True):
    content: Content | None = None
    finishReason: str | None = None  # noqa: N815
    index: int | None = None
    logprobsResult: LogprobsResult | None = None  # noqa: N815


class PromptFeedback(Struct, kw_only=True):
    blockReason: str | None = None  # noqa: N815


class UsageMetadata(Struct, kw_only=True):
    promptTokenCount: int | None = None  # noqa: N815
    toolUsePromptTokenCount: int | None = None  # noqa: N815
    candidatesTokenCount: int | None = None  # noqa: N815
    thoughtsTokenCount: int | None = None  # noqa: N815
    totalTokenCount: int | None = None  # noqa: N815
    cachedContentTokenCount: int | None = None  # noqa: N815


class GenerateContentResponse(Struct, kw_only=True):
    candidates: list[Candidate] = field(default_factory=list)
    promptFeedback: PromptFeedback | None = None  # noqa: N815
    usageMetadata: UsageMetadata | None = None  # noqa: N815
    modelVersion: str | None = None  # noqa: N815
    responseId: str | None = None  # noqa: N815
    error: dict[str, Any] | None = None  # an error object inside a 200 (seen mid-stream)


_response = msgspec.json.Decoder(GenerateContentResponse)


def decode_response(body: bytes | str) -> GenerateContentResponse:
    """Raises ``msgspec.DecodeError`` (not JSON) or ``msgspec.ValidationError`` (wrong shape)."""
    return _response.decode(body)
