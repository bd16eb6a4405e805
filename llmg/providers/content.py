"""Request-side helpers that more than one OpenAI -> provider mapping needs, written once."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest


def text_of(content: Any, where: str, sep: str = "") -> str:
    """A system/tool message's content as plain text: the string, or its text parts joined by
    ``sep``. Any other part (or a part that is not an object) is the client's 400, naming it."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for i, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text":
            raise InvalidRequest(f"{where}.content[{i}]: only text parts are allowed here", param=f"{where}.content")
        texts.append(part.get("text") or "")
    return sep.join(texts)
