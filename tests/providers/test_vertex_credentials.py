"""Vertex AI credentials the way Google hands them out (issue 17, item 2).

google-auth's chain against fakes on 127.0.0.1: the metadata server (GCE/GKE/Cloud Run), workload
identity federation (an external_account file, a subject token, the STS exchange), gcloud's user
credentials found in their default place, and express mode with an API key. Plus the rule for
incomplete settings: no credential at all skips the provider with the reason, never a stopped
gateway. Before this, Vertex read only a service-account or authorized_user file named in the
config or $GOOGLE_APPLICATION_CREDENTIALS and stopped start-up otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from llmg.config import parse
from llmg.providers.registry import plan
from tests.fakes import gcp_auth_upstream, gemini_upstream
from tests.fakes.gemini_upstream import VertexAccount
from tests.fakes.server import FakeServer

PROJECT = "test-project"
LOCATION = "europe-west4"
MODEL = "vertex_ai/gemini-2.5-flash"
AUDIENCE = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/ci"
SUBJECT = "eyJ.fake-oidc-subject-token.sig"
# Nothing of the developer's machine may leak in: no gcloud directory, no key file, no project.
CLEAN = {"GOOGLE_APPLICATION_CREDENTIALS": "", "GOOGLE_CLOUD_PROJECT": "", "CLOUDSDK_CONFIG": "",
         "GCE_METADATA_HOST": "", "GCE_METADATA_IP": "", "K_SERVICE": ""}


def start_fake(**routes) -> tuple[FakeServer, VertexAccount]:
    account = VertexAccount(project=PROJECT, location=LOCATION)
    app = gemini_upstream.make_app(vertex=account)
    gcp_auth_upstream.add_routes(app, **routes)
    return FakeServer(app).start(), account


def ask(gateway, content: str = "hi") -> str:
    client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0, timeout=20)
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}]).choices[0].message.content


def vertex_calls(fake: FakeServer) -> list:
    return [r for r in fake.requests if ":generateContent" in r.path]


def test_metadata_server_credentials(start_gateway, tmp_path) -> None:
    fake, _ = start_fake()
    try:
        gateway = start_gateway(f"""
[providers.vertex_ai]
base_url = "{fake.url}"
params = {{ project = "{PROJECT}", location = "{LOCATION}" }}
""", env={**CLEAN, "HOME": str(tmp_path), "GCE_METADATA_HOST": fake.url.removeprefix("http://")})
        assert ask(gateway) == "echo: hi"
        assert ask(gateway, "again") == "echo: again"
        assert fake.events["metadata_tokens"] == 1  # cached by the one token cache
        assert vertex_calls(fake)[-1].headers["authorization"] == "Bearer ya29.metadata_tokens-1"
        meta = [r for r in fake.requests if r.path.startswith("/computeMetadata/")]
        assert meta and all(r.headers.get("metadata-flavor") == "Google" for r in meta)
    finally:
        fake.stop()


def test_workload_identity_federation(start_gateway, tmp_path) -> None:
    fake, _ = start_fake(audience=AUDIENCE, subject_token=SUBJECT)
    subject = tmp_path / "oidc-token"
    subject.write_text(SUBJECT)
    wif = tmp_path / "wif.json"
    wif.write_text(json.dumps({
        "type": "external_account", "audience": AUDIENCE,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": f"{fake.url}/v1/token", "credential_source": {"file": str(subject)},
    }))
    try:
        gateway = start_gateway(f"""
[providers.vertex_ai]
base_url = "{fake.url}"
params = {{ project = "{PROJECT}", location = "{LOCATION}" }}
""", env={**CLEAN, "HOME": str(tmp_path), "GOOGLE_APPLICATION_CREDENTIALS": str(wif)})
        assert ask(gateway) == "echo: hi"
        assert ask(gateway) == "echo: hi"
        assert fake.events["sts_tokens"] == 1
        assert SUBJECT not in gateway.output()
    finally:
        fake.stop()


def test_gcloud_user_credentials_found_in_their_default_place(start_gateway, tmp_path) -> None:
    fake, account = start_fake()
    gcloud = tmp_path / ".config" / "gcloud"
    gcloud.mkdir(parents=True)
    (gcloud / "application_default_credentials.json").write_text(json.dumps({
        "type": "authorized_user", "client_id": account.client_id, "client_secret": account.client_secret,
        "refresh_token": account.refresh_token}))
    try:
        gateway = start_gateway(f"""
[providers.vertex_ai]
base_url = "{fake.url}"
params = {{ project = "{PROJECT}", location = "{LOCATION}", token_url = "{fake.url}/token" }}
""", env={**CLEAN, "HOME": str(tmp_path)})
        assert ask(gateway, "adc") == "echo: adc"
        assert fake.events["token_exchanges"] == 1
        assert account.refresh_token not in gateway.output()
    finally:
        fake.stop()


def test_express_mode_with_an_api_key(start_gateway, tmp_path) -> None:
    # Before: a [providers.vertex_ai] section with only api_key stopped the whole gateway.
    fake = FakeServer(gemini_upstream.make_app(api_key="vertex-express-key")).start()
    try:
        gateway = start_gateway(f"""
[providers.vertex_ai]
api_key = "vertex-express-key"
base_url = "{fake.url}"
""", env={**CLEAN, "HOME": str(tmp_path)})
        assert ask(gateway) == "echo: hi"
        sent = fake.requests[-1]
        assert sent.path == "/v1/publishers/google/models/gemini-2.5-flash:generateContent"
        assert sent.headers["x-goog-api-key"] == "vertex-express-key"
        assert "authorization" not in sent.headers
        assert "vertex-express-key" not in gateway.output()
    finally:
        fake.stop()


def test_no_credentials_skips_vertex_with_the_reason(start_gateway, tmp_path) -> None:
    gateway = start_gateway(f"""
[providers.mock]

[providers.vertex_ai]
params = {{ project = "{PROJECT}" }}
""", env={**CLEAN, "HOME": str(tmp_path)})
    client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0)
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    message = err.value.body["message"]
    assert message.startswith("Unknown provider: vertex_ai (not registered: no Google credentials")
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message and "api_key" in message
    assert "vertex_ai: not registered: no Google credentials" in gateway.output()
    assert client.chat.completions.create(model="mock/mock-1", messages=[{"role": "user", "content": "x"}]).choices


def test_no_project_is_reported_by_the_plan(tmp_path) -> None:
    fake_home = tmp_path / "home"
    fake_home.mkdir()
    loaded = parse("[providers.vertex_ai]\nparams = { credentials = \"metadata\" }\n", "t.toml", {})
    result = plan(loaded, {"HOME": str(fake_home)})
    assert "vertex_ai" not in result.registered
    assert result.skipped["vertex_ai"].startswith("no project: set providers.vertex_ai.params.project")
    assert any(w.startswith("vertex_ai: not registered: no project") for w in result.warnings)


def test_check_config_reports_incomplete_settings(tmp_path) -> None:
    import subprocess
    import sys

    config = Path(tmp_path) / "llmg.toml"
    config.write_text("[providers.mock]\n\n[providers.vertex_ai]\n\n[providers.watsonx]\napi_key = \"k\"\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-m", "llmg", "check-config", "--config", str(config)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "vertex_ai: not registered: no Google credentials" in out.stdout
    assert "watsonx: not registered: no project" in out.stdout
    skipped = out.stdout.split("skipped providers", 1)[1]
    assert "vertex_ai" in skipped and "watsonx" in skipped
