"""GitHub Copilot chat: OpenAI-format pass-through after a Copilot token exchange.

Copilot's chat API speaks OpenAI's format (``POST {api}/chat/completions``, tools and SSE
included), so bodies and answers pass through as bytes. What differs is authentication:

1. A GitHub OAuth token with Copilot access (config ``api_key``, ``$GITHUB_COPILOT_TOKEN`` /
   ``$GH_COPILOT_TOKEN``, or the file written by ``llmg login github-copilot``) is exchanged at
   ``GET https://api.github.com/copilot_internal/v2/token`` (``Authorization: token <github token>``)
   for ``{token, expires_at, refresh_in, endpoints: {api}}``.
2. That short-lived token is cached (``TokenCache``) until ``refresh_in`` / shortly before
   ``expires_at``, and sent as ``Authorization: Bearer`` with the editor headers Copilot expects.
   A 401 from the chat endpoint drops it and retries once with a fresh one.

The device-flow login (GitHub's documented OAuth device flow,
https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#device-flow,
with the public client id of GitHub's Copilot editor plugins) is the separate ``llmg login
github-copilot`` command (``login`` below). ``llmg serve`` never starts it: without a GitHub token
the provider answers 401 ``provider_error`` saying to run that command.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import msgspec

from ..errors import GatewayError, ProviderError, from_upstream
from ..sse import relay_sse
from ..transports import Timeout, Transport
from .base import Call, Provider, Reply, Settings, closing
from .model_ids import fetch_model_ids
from .token_cache import Token, TokenCache, post_with_token, stream_with_token
from .translate import require_event_stream

_decode = msgspec.json.decode

TOKEN_URL = "https://api.github.com/copilot_internal/v2/token"
DEVICE_CODE_URL = "https://github.com/login/device/code"
ACCESS_TOKEN_URL = "https://github.com/login/oauth/access_token"
# The public OAuth client id of GitHub's Copilot editor plugins (what copilot.vim and others use).
CLIENT_ID = "Iv1.b507a08c87ecfe98"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_FILE = "access-token"

# What Copilot's chat endpoint expects from an editor integration. Config `headers` override them.
EDITOR_HEADERS = {
    "editor-version": "vscode/1.99.3",
    "editor-plugin-version": "copilot-chat/0.26.7",
    "copilot-integration-id": "vscode-chat",
    "user-agent": "GitHubCopilotChat/0.26.7",
    "openai-intent": "conversation-panel",
}

LOGIN_HINT = "run `llmg login github-copilot` (or set $GITHUB_COPILOT_TOKEN)"


def token_dir(params: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """Where ``llmg login github-copilot`` keeps the GitHub token."""
    env = os.environ if environ is None else environ
    configured = (params or {}).get("token_dir") or env.get("GITHUB_COPILOT_TOKEN_DIR")
    if configured:
        return Path(str(configured)).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "llmg" / "github_copilot"


def read_token_file(directory: Path) -> str | None:
    try:
        value = (directory / TOKEN_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return value or None


def write_token_file(directory: Path, token: str) -> Path:
    """Store the token readable by the owner only (directory 0700, file 0600)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    path = directory / TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, token.encode("utf-8") + b"\n")
    finally:
        os.close(fd)
    return path


def not_logged_in() -> GatewayError:
    return GatewayError(f"github_copilot: not logged in; {LOGIN_HINT}", status=401, type="provider_error", code="provider_not_logged_in")


def parse_token(body: bytes, now: float) -> tuple[Token, str | None]:
    """The exchange answer -> (Token, the chat API base from ``endpoints.api`` if given)."""
    data = _decode(body)
    value = data["token"]
    expires_at = float(data.get("expires_at") or now + 1500)
    refresh_in = data.get("refresh_in")
    api = (data.get("endpoints") or {}).get("api")
    return Token(value=value, expires_in=expires_at - now, refresh_in=float(refresh_in) if refresh_in else None), api


class CopilotProvider(Provider):
    def __init__(self, settings: Settings, transport: Transport) -> None:
        super().__init__(settings, transport)
        params = settings.params
        self.token_url = str(params.get("token_url") or TOKEN_URL)
        self.api_base_override = str(params["api_base"]).rstrip("/") if params.get("api_base") else None
        self.api_base = self.api_base_override or self.base_url
        self.token_dir = token_dir(params)
        self.github_token = settings.api_key or read_token_file(self.token_dir)
        self.tokens = TokenCache(self._exchange, name=self.name)
        # Editor headers first, so that config `headers` (already in self.headers) can override them.
        self.base_headers = {**{k: v for k, v in self.headers.items() if k not in EDITOR_HEADERS}, **EDITOR_HEADERS,
                             **{k: v for k, v in settings.headers.items()}}
        self.base_headers.pop("authorization", None)

    def _github(self) -> str:
        if self.github_token is None:
            # Logged in after start-up? Only this (error) path touches the disk.
            self.github_token = read_token_file(self.token_dir)
            if self.github_token is None:
                raise not_logged_in()
        return self.github_token

    async def _exchange(self) -> Token:
        github = self._github()
        headers = {
            "authorization": f"token {github}",
            "accept": "application/json",
            "editor-version": self.base_headers["editor-version"],
            "editor-plugin-version": self.base_headers["editor-plugin-version"],
            "user-agent": self.base_headers["user-agent"],
        }
        resp = await self.transport.request("GET", self.token_url, headers=headers, timeout=self.timeout, provider=self.name)
        if resp.status in (401, 403, 404):
            # 401: the GitHub token is bad or revoked; 403/404: the account has no Copilot access.
            what = "GitHub token rejected" if resp.status == 401 else "this GitHub account has no Copilot access"
            raise GatewayError(f"github_copilot: {what}; {LOGIN_HINT}", status=401, type="provider_error", code="provider_auth_failed")
        if resp.status != 200:
            raise from_upstream(resp.status, resp.body, resp.headers, provider=self.name, secrets=(github,))
        try:
            token, api = parse_token(resp.body, time.time())
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            raise ProviderError("github_copilot: token exchange answered without a token", code="upstream_error") from None
        if api and not self.api_base_override:
            self.api_base = api.rstrip("/")
        self.secrets = self.base_secrets + tuple(s for s in (github, token.value) if s)
        return token

    def _headers(self, token: str, call: Call | None, stream: bool) -> dict[str, str]:
        headers = {**self.base_headers, "authorization": f"Bearer {token}"}
        if call is not None:
            headers["x-request-id"] = call.request_id
            headers.update(_turn_headers(call))
        if stream:
            headers["accept"] = "text/event-stream"
        return headers

    async def list_models(self) -> list[str]:
        """Copilot's own chat models (``GET {api}/models``); the catalogued list if that fails.

        Not being logged in raises here, which the model directory treats as "keep the list".
        """
        if self.settings.models is not None:
            return await super().list_models()
        token = await self.tokens.get()
        return await fetch_model_ids(self, f"{self.api_base}/models", self._headers(token, None, False), _chat_model_ids)

    def _chat_url(self) -> str:
        return f"{self.api_base}/chat/completions"  # api_base comes with the token (endpoints.api)

    async def chat(self, call: Call) -> Reply:
        resp = await post_with_token(self, self.tokens, self._chat_url, call.upstream_body(),
                                     lambda token: self._headers(token, call, False))
        return Reply(resp.body)

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        stream = await stream_with_token(self, self.tokens, self._chat_url, call.upstream_body(),
                                         lambda token: self._headers(token, call, True))
        await require_event_stream(stream, self.name)
        return closing(stream, relay_sse(stream.chunks()))


def _turn_headers(call: Call) -> dict[str, str]:
    """Copilot's per-request headers: ``Copilot-Vision-Request: true`` when any message carries an
    image (Copilot answers 400 without it), and ``X-Initiator`` (``user`` for a turn the user
    started, ``agent`` for one that follows the model's own tool call)."""
    request = call.request
    messages = getattr(request, "messages", None) or []
    headers = {"x-initiator": "agent" if messages and messages[-1].role in ("assistant", "tool") else "user"}
    if any(isinstance(m.content, list) and any(p.type == "image_url" for p in m.content) for m in messages):
        headers["copilot-vision-request"] = "true"
    return headers


def _chat_model_ids(body: Any) -> list[str]:
    """Copilot lists embedding models too; only chat models (no ``capabilities.type``: chat) count."""
    items = body.get("data") if isinstance(body, dict) else None
    return [m["id"] for m in items or () if isinstance(m, dict) and isinstance(m.get("id"), str)
            and ((m.get("capabilities") or {}).get("type") or "chat") == "chat"]


ADAPTER = CopilotProvider


# --- `llmg login github-copilot`: GitHub's OAuth device flow --------------------------------------


class LoginError(Exception):
    pass


async def _post_form(transport: Transport, url: str, form: dict[str, str]) -> dict[str, Any]:
    resp = await transport.request(
        "POST", url, headers={"accept": "application/json", "content-type": "application/x-www-form-urlencoded"},
        body=urllib.parse.urlencode(form).encode(), timeout=Timeout(total=30, connect=10), provider="github",
    )
    try:
        data = _decode(resp.body)
    except msgspec.DecodeError:
        data = None
    if not isinstance(data, dict):
        raise LoginError(f"GitHub answered HTTP {resp.status} without a JSON body")
    if resp.status >= 400 and "error" not in data:
        raise LoginError(f"GitHub answered HTTP {resp.status}: {data.get('message') or data}")
    return data


async def device_flow(
    *,
    client_id: str = CLIENT_ID,
    device_code_url: str = DEVICE_CODE_URL,
    access_token_url: str = ACCESS_TOKEN_URL,
    out: TextIO = sys.stderr,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> str:
    """Run the device flow and return the GitHub OAuth token (raises LoginError)."""
    from ..transports.aiohttp import AiohttpTransport

    transport = AiohttpTransport(pool_size=2)
    try:
        code = await _post_form(transport, device_code_url, {"client_id": client_id, "scope": "read:user"})
        if "device_code" not in code:
            raise LoginError(f"GitHub refused the device code request: {code.get('error_description') or code.get('error')}")
        print(f"Open {code['verification_uri']} and enter the code {code['user_code']}", file=out, flush=True)
        interval = float(code.get("interval", 5))
        deadline = time.monotonic() + float(code.get("expires_in", 900))
        while time.monotonic() < deadline:
            await sleep(interval)
            answer = await _post_form(transport, access_token_url, {
                "client_id": client_id, "device_code": code["device_code"], "grant_type": DEVICE_GRANT})
            if answer.get("access_token"):
                return str(answer["access_token"])
            error = answer.get("error")
            if error == "authorization_pending":
                continue
            if error == "slow_down":  # GitHub adds 5 s to the interval and says so
                interval = float(answer.get("interval", interval + 5))
                continue
            raise LoginError(f"login failed: {answer.get('error_description') or error}")
        raise LoginError("login failed: the device code expired before it was authorized")
    finally:
        await transport.aclose()


def login(token_directory: str | None = None) -> int:
    """``llmg login github-copilot``: the device flow, then store the token (0600)."""
    env = os.environ
    directory = token_dir({"token_dir": token_directory} if token_directory else None)
    try:
        token = asyncio.run(device_flow(
            client_id=env.get("GITHUB_COPILOT_CLIENT_ID") or CLIENT_ID,
            device_code_url=env.get("GITHUB_COPILOT_DEVICE_CODE_URL") or DEVICE_CODE_URL,
            access_token_url=env.get("GITHUB_COPILOT_ACCESS_TOKEN_URL") or ACCESS_TOKEN_URL,
        ))
    except LoginError as exc:
        print(f"llmg: {exc}", file=sys.stderr)
        return 1
    except (GatewayError, OSError) as exc:
        print(f"llmg: could not reach GitHub ({type(exc).__name__})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("llmg: login cancelled", file=sys.stderr)
        return 130
    path = write_token_file(directory, token)
    print(f"Logged in. GitHub token stored in {path} (mode 0600).", file=sys.stderr)
    print("Enable the provider with a [providers.github_copilot] section in llmg.toml.", file=sys.stderr)
    return 0
