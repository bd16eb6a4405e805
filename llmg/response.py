"""The HTTPResponse the hot routes answer with: Sanic's, with cheaper header processing.

Sanic strips CR, LF and NUL from every header name and value of every response with
``str.translate``, which looks each character up in a table: measured as the largest single cost of
formatting a small JSON response (about half of building and formatting it). A string for which
``isprintable()`` holds contains none of the three (they are not printable), so it is returned as
it is; anything else still goes through Sanic's own translation. Same bytes on the wire.

``processed_headers`` does the same as Sanic's in one loop: no generator and no sanitiser method
call per name and per value (two Python calls per header, four headers on a plain answer).
"""

from __future__ import annotations

from collections.abc import Iterator

from sanic import HTTPResponse
from sanic.helpers import has_message_body
from sanic.response.types import HEADER_TRANSLATION_TABLE


class Response(HTTPResponse):
    __slots__ = ()

    @staticmethod
    def _sanitize_header_value(value: str) -> str:
        return value if value.isprintable() else value.translate(HEADER_TRANSLATION_TABLE)

    @property
    def processed_headers(self) -> Iterator[tuple[bytes, bytes]]:
        headers = self.headers
        if has_message_body(self.status):
            headers.setdefault("content-type", self.content_type)
        table = HEADER_TRANSLATION_TABLE
        out = []
        for name, raw in headers.items():
            value = raw if type(raw) is str else f"{raw}"
            if not name.isprintable():
                name = name.translate(table)
            if not value.isprintable():
                value = value.translate(table)
            out.append((name.encode("ascii"), value.encode(errors="surrogateescape")))
        return iter(out)
