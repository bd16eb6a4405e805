"""AWS Signature Version 4 (header form), with hmac/hashlib only.

Written from AWS's specification, "Create a signed AWS API request"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html), and
checked against AWS's published SigV4 test suite (tests/unit/test_sigv4.py).

    CanonicalRequest = Method \\n CanonicalURI \\n CanonicalQuery \\n CanonicalHeaders \\n
                       SignedHeaders \\n hex(SHA256(payload))
    StringToSign     = "AWS4-HMAC-SHA256" \\n amz-date \\n scope \\n hex(SHA256(CanonicalRequest))
    SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")

The canonical URI is the path *as sent on the wire*, URI-encoded once more, segment by segment.
For every service but S3 this is "double encoding": a model id sent as ``...v1%2F0`` is signed as
``...v1%252F0``. Paths are not dot-normalised: callers here never send ``.``/``..`` segments.

The signing key changes once a day, so it is cached per date; a signature costs two SHA-256
digests and one HMAC on the hot path.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def uri_encode(text: str, *, keep_slash: bool = False) -> str:
    """AWS's UriEncode: every byte but A-Z a-z 0-9 - . _ ~ as %XX (upper-case hex), space as %20."""
    return quote(text, safe="/~" if keep_slash else "~")


@lru_cache(maxsize=1024)
def canonical_uri(path: str) -> str:
    """The path as sent (already percent-encoded), encoded again; '/' separates segments.

    Cached: a gateway sends to a handful of paths (one per model and operation), and quote()
    is the slowest step of a signature."""
    return uri_encode(path or "/", keep_slash=True)


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """Names and values URI-encoded, sorted by name then value, joined with '&'."""
    encoded = sorted((uri_encode(k), uri_encode(v)) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """(canonical header block, signed header list): lower-cased names, trimmed values with runs
    of spaces collapsed, sorted by name."""
    items = sorted((name.lower(), " ".join(value.split())) for name, value in headers.items())
    block = "".join(f"{name}:{value}\n" for name, value in items)
    return block, ";".join(name for name, _ in items)


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def canonical_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
) -> tuple[str, str]:
    """(canonical request, signed header list)."""
    block, signed = canonical_headers(headers)
    text = f"{method}\n{canonical_uri(path)}\n{canonical_query(query)}\n{block}\n{signed}\n{payload_hash}"
    return text, signed


class Signer:
    """Signs requests for one set of credentials, one region and one service."""

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        region: str,
        service: str,
        session_token: str | None = None,
        *,
        content_sha256_header: bool = True,
    ) -> None:
        self.access_key = access_key
        self._secret_key = secret_key
        self.region = region
        self.service = service
        self.session_token = session_token or None
        # x-amz-content-sha256 is optional outside S3; Bedrock accepts it, the test suite omits it.
        self.content_sha256_header = content_sha256_header
        self._key_date = ""
        self._key = b""
        self._second = -1
        self._stamp = ""
        self._layouts: dict[tuple[tuple[str, str], ...], tuple[list[tuple[str, str | None]], str, dict[str, str]]] = {}

    def _now(self) -> str:
        # One strftime per second, not per request.
        second = int(time.time())
        if second != self._second:
            self._stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            self._second = second
        return self._stamp

    def _key_for(self, date: str) -> bytes:
        if date != self._key_date:
            self._key = signing_key(self._secret_key, date, self.region, self.service)
            self._key_date = date
        return self._key

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        body: bytes = b"",
        *,
        query: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        amz_date: str | None = None,
    ) -> dict[str, str]:
        """Return ``headers`` plus host, x-amz-date, (x-amz-content-sha256, x-amz-security-token)
        and authorization: everything to send. All of ``headers`` is signed.

        ``path`` must be the path exactly as the HTTP client will put it on the wire.
        """
        amz_date = amz_date or self._now()
        date = amz_date[:8]
        payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        headers = headers or {}
        order, signed, out = self._layout(headers)
        dynamic = {"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash,
                   "x-amz-security-token": self.session_token}
        block = "".join(f"{name}:{dynamic[name] if value is None else value}\n" for name, value in order)
        creq = f"{method}\n{canonical_uri(path)}\n{canonical_query(query)}\n{block}\n{signed}\n{payload_hash}"
        scope = f"{date}/{self.region}/{self.service}/aws4_request"
        signature = hmac.new(self._key_for(date), string_to_sign(amz_date, scope, creq).encode(), hashlib.sha256).hexdigest()
        result = dict(out)
        for name, value in order:
            if value is None:
                result[name] = dynamic[name]  # type: ignore[assignment]
        result["authorization"] = (
            f"{ALGORITHM} Credential={self.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        )
        return result

    def _layout(self, headers: Mapping[str, str]) -> tuple[list[tuple[str, str | None]], str, dict[str, str]]:
        """The sorted header names to sign, with the canonical values of the caller's (fixed)
        headers and None for the ones filled per request. Cached per header set: callers reuse a
        few constant header dicts, and canonicalising them is most of a signature's cost."""
        key = tuple(headers.items())
        layout = self._layouts.get(key)
        if layout is None:
            lowered = {name.lower(): value for name, value in headers.items()}
            canonical: dict[str, str | None] = {name: " ".join(value.split()) for name, value in lowered.items()}
            canonical["host"] = None
            canonical["x-amz-date"] = None
            if self.content_sha256_header:
                canonical["x-amz-content-sha256"] = None
            if self.session_token:
                canonical["x-amz-security-token"] = None
            order = sorted(canonical.items())
            layout = (order, ";".join(name for name, _ in order), lowered)
            if len(self._layouts) < 64:
                self._layouts[key] = layout
        return layout
