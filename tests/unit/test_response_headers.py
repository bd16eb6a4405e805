"""llmg.response.Response skips Sanic's per-character header translation for printable values;
the bytes it formats must be exactly Sanic's for every value, hostile ones included."""

from __future__ import annotations

import pytest
from sanic import HTTPResponse
from sanic.headers import format_http1_response

from llmg.response import Response

VALUES = ["application/json", "0c40e2f049c00242", "a\r\nSet-Cookie: x=1", "nul\x00byte", "tab\there", "lf\nonly",
          "cr\ronly", "ünïcödé", "emoji 🙂", "\x7f del", "", " spaced ", "\u2028line-sep", "x" * 300]


@pytest.mark.parametrize("value", VALUES)
def test_formatted_head_equals_sanics(value: str) -> None:
    heads = []
    for cls in (HTTPResponse, Response):
        # Names are ASCII on the wire (Sanic encodes them so); CR/LF/NUL in one are stripped too.
        name = "x-" + value[:6].encode("ascii", "ignore").decode()
        resp = cls(b"{}", status=200, content_type="application/json", headers={"x-test": value, name: "n"})
        heads.append(format_http1_response(resp.status, resp.processed_headers))
    assert heads[0] == heads[1]
    assert b"\r\nSet-Cookie" not in heads[1] and b"\x00" not in heads[1]
