"""GitHub Copilot: the device-flow login command, the token exchange and its cache, editor headers,
and chat through the official ``openai`` SDK against a fake GitHub + Copilot server."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import openai
import pytest

from llmg.providers import github_copilot
from tests.fakes import copilot_upstream
from tests.gateway import ROOT

MODEL = "github_copilot/gpt-4o"


@pytest.fixture(scope="module")
def fake():
    server = copilot_upstream.start()
    yield server
    server.stop()


def _config(fake, extra: str = "") -> str:
    return f"""
[providers.github_copilot]
timeout = 5
params = {{ token_url = "{fake.url}/copilot_internal/v2/token" }}
{extra}
"""


# --- pure helpers -------------------------------------------------------------------------------


def test_parse_token_uses_refresh_in_and_endpoint():
    body = b'{"token":"tid=1;exp=2","expires_at":1000,"refresh_in":600,"endpoints":{"api":"https://api.individual.githubcopilot.com"}}'
    token, api = github_copilot.parse_token(body, now=100.0)
    assert token.value == "tid=1;exp=2" and token.expires_in == 900 and token.refresh_in == 600
    assert api == "https://api.individual.githubcopilot.com"


def test_token_file_is_owner_only(tmp_path):
    path = github_copilot.write_token_file(tmp_path / "gh", "gho_secret")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "gh").st_mode) == 0o700
    assert github_copilot.read_token_file(tmp_path / "gh") == "gho_secret"
    assert github_copilot.token_dir(environ={"XDG_CONFIG_HOME": "/x"}) == github_copilot.Path("/x/llmg/github_copilot")


# --- llmg login github-copilot ------------------------------------------------------------------


def _login(fake, token_dir, timeout=30):
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "GITHUB_COPILOT_DEVICE_CODE_URL": f"{fake.url}/login/device/code",
           "GITHUB_COPILOT_ACCESS_TOKEN_URL": f"{fake.url}/login/oauth/access_token"}
    return subprocess.run([sys.executable, "-m", "llmg", "login", "github-copilot", "--token-dir", str(token_dir)],
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_login_device_flow_stores_token_0600(fake, tmp_path):
    fake.clear()
    result = _login(fake, tmp_path / "copilot")
    assert result.returncode == 0, result.stderr
    assert "WDJB-MJHT" in result.stderr and "https://github.com/login/device" in result.stderr
    path = tmp_path / "copilot" / github_copilot.TOKEN_FILE
    assert path.read_text().strip() == copilot_upstream.GITHUB_TOKEN
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    polls = [r for r in fake.requests if r.path == "/login/oauth/access_token"]
    assert len(polls) == 3  # pending, slow_down, token
    first = fake.requests[0]
    assert first.path == "/login/device/code" and "client_id=Iv1.b507a08c87ecfe98" in first.body.decode()
    assert copilot_upstream.GITHUB_TOKEN not in result.stderr + result.stdout


def test_login_reports_refusal(tmp_path):
    from aiohttp import web

    from tests.fakes.server import FakeServer

    async def refuse(request):
        return web.json_response({"error": "device_flow_disabled", "error_description": "Device flow is disabled for this app."})

    app = web.Application()
    app.router.add_post("/login/device/code", refuse)
    server = FakeServer(app).start()
    try:
        result = _login(server, tmp_path / "x")
    finally:
        server.stop()
    assert result.returncode == 1 and "Device flow is disabled" in result.stderr
    assert not (tmp_path / "x").exists()


def test_serve_uses_login_token_file(fake, tmp_path, start_gateway):
    github_copilot.write_token_file(tmp_path / "tok", copilot_upstream.GITHUB_TOKEN)
    gw = start_gateway(_config(fake), env={"GITHUB_COPILOT_TOKEN_DIR": str(tmp_path / "tok")})
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "from file"}])
    assert r.choices[0].message.content == "echo: from file"


# --- serving --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(fake):
    from tests.gateway import GatewayProcess

    gw = GatewayProcess(_config(fake), env={"GITHUB_COPILOT_TOKEN": copilot_upstream.GITHUB_TOKEN}).start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def client(gateway):
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0)


def test_plain_answer_with_editor_headers(client, fake):
    fake.clear()
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hello copilot"}])
    assert r.choices[0].message.content == "echo: hello copilot"
    # The token may already have been exchanged at start-up (the model list refresh uses it).
    first = fake.events.get("token_exchanges", 0)
    assert first <= 1
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "again"}])
    assert fake.events.get("token_exchanges", 0) == first  # cached across requests
    chat = [q for q in fake.requests if q.path == "/chat/completions"][-1]
    assert chat.headers["authorization"].startswith("Bearer tid=")
    for name in ("editor-version", "editor-plugin-version", "user-agent"):
        assert chat.headers[name]
    assert chat.headers["copilot-integration-id"] == "vscode-chat"
    assert chat.headers["openai-intent"] == "conversation-panel"
    assert chat.json()["model"] == "gpt-4o"


def test_streamed_answer(client):
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "stream it"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: stream it"
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["stop"]


TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


@pytest.mark.parametrize("stream", [False, True])
def test_tools_pass_through(client, stream):
    messages = [{"role": "user", "content": "weather in Paris"}]
    if stream:
        chunks = list(client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, stream=True))
        args = "".join(tc.function.arguments or "" for c in chunks for tc in (c.choices[0].delta.tool_calls or []))
    else:
        r = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        args = r.choices[0].message.tool_calls[0].function.arguments
    assert args == copilot_upstream.TOOL_ARGUMENTS
    messages += [{"role": "assistant", "content": None, "tool_calls": [{"id": copilot_upstream.TOOL_CALL_ID, "type": "function",
                                                                         "function": {"name": "weather", "arguments": args}}]},
                 {"role": "tool", "tool_call_id": copilot_upstream.TOOL_CALL_ID, "content": "rain"}]
    assert client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS).choices[0].message.content == "The tool said: rain"


@pytest.mark.parametrize("stream", [False, True])
def test_401_forces_one_refresh_and_one_retry(client, fake, stream):
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "warm"}])
    fake.clear()
    fake.app["revoked"].update(fake.app["tokens"])
    messages = [{"role": "user", "content": "after expiry"}]
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(model=MODEL, messages=messages, stream=True))
    else:
        text = client.chat.completions.create(model=MODEL, messages=messages).choices[0].message.content
    assert text == "echo: after expiry"
    assert fake.events.get("token_exchanges") == 1
    assert [q.path for q in fake.requests] == ["/chat/completions", "/copilot_internal/v2/token", "/chat/completions"]
    exchange = fake.requests[1]
    assert exchange.headers["authorization"] == f"token {copilot_upstream.GITHUB_TOKEN}"
    assert exchange.headers["editor-version"] and exchange.headers["user-agent"]
    assert fake.requests[0].headers["authorization"] != fake.requests[2].headers["authorization"]  # the fresh token


def test_upstream_error(client):
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="github_copilot/error-429", messages=[{"role": "user", "content": "x"}])


def test_not_logged_in_answers_401_without_blocking(fake, tmp_path, start_gateway):
    started = time.monotonic()
    gw = start_gateway(_config(fake), env={"GITHUB_COPILOT_TOKEN_DIR": str(tmp_path / "empty"), "GITHUB_COPILOT_TOKEN": "", "GH_COPILOT_TOKEN": ""})
    assert time.monotonic() - started < 20  # serve came up; no device flow was started
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["type"] == "provider_error"
    assert "llmg login github-copilot" in info.value.body["message"]
    # Logging in afterwards works without a restart.
    github_copilot.write_token_file(tmp_path / "empty", copilot_upstream.GITHUB_TOKEN)
    assert client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "now"}]).choices[0].message.content == "echo: now"


@pytest.mark.parametrize("token,phrase", [("gho_wrong", "GitHub token rejected"), (copilot_upstream.NO_COPILOT_TOKEN, "no Copilot access")])
def test_bad_github_token(fake, start_gateway, token, phrase):
    gw = start_gateway(_config(fake, f'api_key = "{token}"'))
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert phrase in info.value.body["message"] and info.value.body["type"] == "provider_error"
    assert token not in gw.output()


def test_models_listed_from_copilot(gateway):
    import httpx

    deadline = time.monotonic() + 10
    ids: list[str] = []
    while time.monotonic() < deadline:
        ids = [m["id"] for m in httpx.get(f"{gateway.base_url}/models", headers=gateway.auth).json()["data"]]
        if "github_copilot/claude-sonnet-4" in ids:
            break
        time.sleep(0.2)
    copilot = sorted(i for i in ids if i.startswith("github_copilot/"))
    assert copilot == ["github_copilot/claude-sonnet-4", "github_copilot/gpt-4.1"]  # chat models only


@pytest.mark.parametrize("stream", [False, True])
def test_image_requests_carry_the_vision_header(client, fake, stream):
    fake.clear()
    png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    messages = [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": png}}]}]
    r = client.chat.completions.create(model=MODEL, messages=messages, stream=stream)
    if stream:
        assert "".join(c.choices[0].delta.content or "" for c in r if c.choices)
    else:
        assert r.choices[0].message.content
    sent = [q for q in fake.requests if q.path == "/chat/completions"][-1]
    assert sent.headers["copilot-vision-request"] == "true" and sent.headers["x-initiator"] == "user"


def test_text_requests_have_no_vision_header_and_tool_turns_are_agent_initiated(client, fake):
    fake.clear()
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    client.chat.completions.create(model=MODEL, messages=[
        {"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"}])
    sent = [q for q in fake.requests if q.path == "/chat/completions"][-1]
    assert "copilot-vision-request" not in sent.headers and sent.headers["x-initiator"] == "agent"
