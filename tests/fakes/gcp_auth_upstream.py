"""Fake Google credential issuers, added to the fake Vertex AI app so their tokens are accepted.

- the GCE/GKE/Cloud Run **metadata server** (https://cloud.google.com/compute/docs/metadata/
  querying-metadata): ``GET /computeMetadata/v1/instance/service-accounts/{account}/?recursive=true``
  and ``.../{account}/token``, answered only with ``Metadata-Flavor: Google``, as the real one
  does. google-auth finds it at ``$GCE_METADATA_HOST``.
- the **STS token exchange** of workload identity federation (https://cloud.google.com/iam/docs/
  reference/sts/rest/v1/TopLevel/token): ``POST /v1/token`` with the RFC 8693 form, which checks
  the audience and the subject token the external_account file points at.

Every token issued here goes into the Vertex fake's table (``app["tokens"]``), so a request that
reaches Vertex with it is accepted, and counted per issuer in ``fake.events``.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs

from aiohttp import web

ACCOUNT_EMAIL = "llmg-vm@test-project.iam.gserviceaccount.com"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
FLAVOR = {"Metadata-Flavor": "Google"}


def add_routes(app: web.Application, *, audience: str = "", subject_token: str = "", token_ttl: int = 3599) -> None:
    """Add the metadata server and STS to ``app`` (a gemini_upstream.make_app(vertex=...) app)."""

    def issue(request: web.Request, prefix: str) -> str:
        fake = request.app["fake"]
        fake.bump(prefix)
        token = f"ya29.{prefix}-{fake.events[prefix]}"
        request.app["tokens"][token] = time.time() + token_ttl
        return token

    async def account_info(request: web.Request) -> web.Response:
        if request.headers.get("Metadata-Flavor") != "Google":
            return web.Response(status=403, text="Missing Metadata-Flavor:Google header.", headers=FLAVOR)
        return web.json_response({"email": ACCOUNT_EMAIL, "aliases": ["default"],
                                  "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}, headers=FLAVOR)

    async def account_token(request: web.Request) -> web.Response:
        if request.headers.get("Metadata-Flavor") != "Google":
            return web.Response(status=403, text="Missing Metadata-Flavor:Google header.", headers=FLAVOR)
        if request.match_info["account"] not in ("default", ACCOUNT_EMAIL):
            return web.Response(status=404, text="not found", headers=FLAVOR)
        return web.json_response({"access_token": issue(request, "metadata_tokens"), "expires_in": token_ttl,
                                  "token_type": "Bearer"}, headers=FLAVOR)

    async def sts_token(request: web.Request) -> web.Response:
        form = {k: v[0] for k, v in parse_qs((await request.read()).decode()).items()}
        if form.get("grant_type") != TOKEN_EXCHANGE or form.get("requested_token_type") != ACCESS_TOKEN_TYPE:
            return web.json_response({"error": "invalid_request", "error_description": "bad grant"}, status=400)
        if form.get("audience") != audience:
            return web.json_response({"error": "invalid_target", "error_description": "The target service indicated by the "
                                      "\"audience\" parameters is invalid."}, status=400)
        if form.get("subject_token") != subject_token:
            return web.json_response({"error": "invalid_grant", "error_description": "The subject token is invalid."}, status=400)
        return web.json_response({"access_token": issue(request, "sts_tokens"), "issued_token_type": ACCESS_TOKEN_TYPE,
                                  "token_type": "Bearer", "expires_in": token_ttl})

    app.router.add_get("/computeMetadata/v1/instance/service-accounts/{account}/", account_info)
    app.router.add_get("/computeMetadata/v1/instance/service-accounts/{account}/token", account_token)
    app.router.add_post("/v1/token", sts_token)
