"""The catalogue as data: complete against the original, honest, and consistent with the README."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
import pytest

from llmg.config import ConfigError, parse
from llmg.errors import InvalidRequest, NotSupported
from llmg.providers import registry
from llmg.providers.azure import AzureOpenAIProvider, _endpoint, azure_openai_url, deployment_map
from llmg.providers.base import Call, Provider, Settings
from llmg.providers.catalogue import (
    load_catalogue,
    markdown_table,
    readme_section,
    replace_readme_section,
)
from llmg.providers.embeddings_only import chat_refusal
from llmg.providers.unsupported import refusal
from llmg.schemas.openai import ChatCompletionRequest
from llmg.transports import Timeout

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = load_catalogue()

# §4 of the reference on the original: its 73 routing prefixes.
ORIGINAL_PREFIXES = """
openai groq deepinfra together_ai fireworks_ai anyscale cerebras sambanova friendliai nscale hyperbolic
featherless_ai apertis_ai nano_gpt poe chutes comet aiml publicai synthetic v0 openrouter z_ai z_ai_coding
litellm_proxy github_copilot mistral deepseek perplexity xai ai21 minimax meta_llama volcano octoai
compactifai helicone langgraph pydantic_ai_agent fal_ai deepgram milvus jina_ai azure_ai heroku vllm
lm_studio llamafile triton docker_runner custom_llm_server xinference anthropic cohere ollama azure
vertex_ai antigravity bedrock aws_sagemaker watsonx huggingface aleph_alpha petals oobabooga voyageai
infinity chatjimmy elevenlabs stability runway firecrawl polly
""".split()

# Key variables the original read (its code's name and its docs' / gateway fallback name): a user
# migrating with either set must keep working.
ORIGINAL_KEY_ENV = {
    "openai": ["OPENAI_API_KEY"], "groq": ["GROQ_API_KEY"], "deepinfra": ["DEEPINFRA_API_KEY"],
    "together_ai": ["TOGETHERAI_API_KEY", "TOGETHER_AI_API_KEY"],
    "fireworks_ai": ["FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY"], "anyscale": ["ANYSCALE_API_KEY"],
    "cerebras": ["CEREBRAS_API_KEY"], "sambanova": ["SAMBANOVA_API_KEY"], "friendliai": ["FRIENDLIAI_API_KEY"],
    "nscale": ["NSCALE_API_KEY"], "hyperbolic": ["HYPERBOLIC_API_KEY"],
    "featherless_ai": ["FEATHERLESS_AI_API_KEY", "FEATHERLESS_API_KEY"],
    "apertis_ai": ["APERTIS_AI_API_KEY", "APERTIS_API_KEY"], "nano_gpt": ["NANO_GPT_API_KEY", "NANOGPT_API_KEY"],
    "poe": ["POE_API_KEY"], "chutes": ["CHUTES_API_KEY"], "comet": ["COMET_API_KEY"], "aiml": ["AIML_API_KEY"],
    "publicai": ["PUBLICAI_API_KEY"], "synthetic": ["SYNTHETIC_API_KEY"], "v0": ["V0_API_KEY"],
    "openrouter": ["OPENROUTER_API_KEY"], "z_ai": ["Z_AI_API_KEY"],
    "z_ai_coding": ["Z_AI_API_KEY", "GLM_CODING_PLAN_API_KEY", "Z_AI_CODING_API_KEY"],
    "litellm_proxy": ["LITELLM_PROXY_API_KEY"], "mistral": ["MISTRAL_API_KEY"], "deepseek": ["DEEPSEEK_API_KEY"],
    "perplexity": ["PERPLEXITY_API_KEY"], "xai": ["XAI_API_KEY"], "ai21": ["AI21_API_KEY"],
    "minimax": ["MINIMAX_API_KEY"], "meta_llama": ["META_API_KEY", "META_LLAMA_API_KEY"],
    "volcano": ["VOLCANO_API_KEY"], "octoai": ["OCTOAI_API_KEY"], "compactifai": ["COMPACTIFAI_API_KEY"],
    "helicone": ["HELICONE_API_KEY"], "langgraph": ["LANGGRAPH_API_KEY"],
    "pydantic_ai_agent": ["PYDANTIC_AI_API_KEY", "PYDANTIC_AI_AGENT_API_KEY"], "fal_ai": ["FAL_AI_API_KEY"],
    "deepgram": ["DEEPGRAM_API_KEY"], "milvus": ["MILVUS_API_KEY"], "jina_ai": ["JINAAI_API_KEY", "JINA_API_KEY"],
    "azure_ai": ["AZURE_AI_API_KEY"], "heroku": ["HEROKU_API_KEY"], "vllm": ["VLLM_API_KEY"],
    "lm_studio": ["LM_STUDIO_API_KEY"], "llamafile": ["LLAMAFILE_API_KEY"], "triton": ["TRITON_API_KEY"],
    "docker_runner": ["DOCKER_RUNNER_API_KEY"], "custom_llm_server": ["CUSTOM_LLM_SERVER_API_KEY"],
    "anthropic": ["ANTHROPIC_API_KEY"], "cohere": ["COHERE_API_KEY"], "azure": ["AZURE_OPENAI_API_KEY"],
    "watsonx": ["WATSONX_API_KEY", "IBM_CLOUD_API_KEY"], "huggingface": ["HF_TOKEN", "HF_API_KEY", "HUGGINGFACE_API_KEY"],
    "aleph_alpha": ["ALEPHALPHA_API_KEY", "ALEPH_ALPHA_API_KEY"], "oobabooga": ["OOBABOOGA_API_KEY"],
    "voyageai": ["VOYAGE_API_KEY", "VOYAGEAI_API_KEY"], "infinity": ["INFINITY_API_KEY"],
    "elevenlabs": ["ELEVENLABS_API_KEY"], "stability": ["STABILITY_API_KEY"], "runway": ["RUNWAY_API_KEY"],
    "firecrawl": ["FIRECRAWL_API_KEY"],
}

# Local servers: their documented default port (and no key needed).
LOCAL_PORTS = {
    "vllm": 8000, "lm_studio": 1234, "llamafile": 8080, "triton": 9000, "docker_runner": 12434,
    "xinference": 9997, "custom_llm_server": 8000, "ollama": 11434, "litellm_proxy": 4000, "infinity": 7997,
    "oobabooga": 5000,
}

NATIVE = {"anthropic", "gemini", "vertex_ai", "bedrock", "cohere", "watsonx", "github_copilot"}
GENERIC = {"mock", "openai_compat", "azure", "azure_ai", "embeddings_only", "unsupported"}
DEFUNCT = {"ai21", "octoai", "anyscale", "petals", "chatjimmy", "antigravity", "langgraph", "pydantic_ai_agent",
           "milvus", "deepgram", "fal_ai", "aws_sagemaker"}


def test_every_prefix_of_the_original_is_catalogued():
    assert len(set(ORIGINAL_PREFIXES)) == 73
    assert set(ORIGINAL_PREFIXES) <= set(CATALOGUE)
    assert set(CATALOGUE) - set(ORIGINAL_PREFIXES) == {"mock", "gemini", "nvidia"}


@pytest.mark.parametrize("name", sorted(ORIGINAL_KEY_ENV))
def test_both_env_names_of_the_original_are_accepted(name):
    assert set(ORIGINAL_KEY_ENV[name]) <= set(CATALOGUE[name].env), CATALOGUE[name].env


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_entry_is_well_formed(name):
    spec = CATALOGUE[name]
    assert spec.adapter in GENERIC | NATIVE, spec.adapter
    # No bare key in Authorization: the key goes as Bearer, in a named header, or the adapter signs.
    assert spec.auth.lower() != "authorization"
    assert spec.auth in ("bearer", "none", "custom") or spec.auth == spec.auth.lower() and " " not in spec.auth
    if name != "mock":
        assert spec.docs.startswith("https://"), spec.docs
    base = spec.base_url or spec.base_url_template
    if spec.adapter not in ("mock",) and spec.auth != "custom":
        assert base, f"{name}: no base URL"
    if base:
        parts = urlsplit(base.replace("{", "").replace("}", ""))
        if name in LOCAL_PORTS:
            assert parts.scheme == "http" and parts.hostname == "localhost" and parts.port == LOCAL_PORTS[name]
            assert not spec.key_required
        else:
            assert parts.scheme == "https", base
        assert "/v1/v1" not in base and not base.endswith("/")
    if spec.models_endpoint:
        assert spec.models_endpoint.startswith("/")


@pytest.mark.parametrize("name", sorted(n for n, s in CATALOGUE.items() if s.adapter == "unsupported"))
def test_unsupported_entries_are_honest(name):
    spec = CATALOGUE[name]
    assert spec.offers and spec.notes and "501" in spec.notes
    assert spec.capabilities == [] and spec.models == [] and spec.models_endpoint is None


def test_defunct_and_fictional_providers_answer_501():
    assert {n for n in DEFUNCT if CATALOGUE[n].adapter != "unsupported"} == set()
    for name in ("elevenlabs", "stability", "runway", "firecrawl", "polly"):
        assert CATALOGUE[name].adapter == "unsupported"


def test_embeddings_only_entries():
    only = {n for n, s in CATALOGUE.items() if s.adapter == "embeddings_only"}
    assert only == {"voyageai", "jina_ai", "infinity"}
    for name in only:
        assert CATALOGUE[name].capabilities == ["embeddings"]


def test_known_wrong_urls_of_the_original_are_fixed():
    assert CATALOGUE["deepinfra"].base_url == "https://api.deepinfra.com/v1/openai"
    assert CATALOGUE["fireworks_ai"].base_url == "https://api.fireworks.ai/inference/v1"
    assert CATALOGUE["perplexity"].base_url == "https://api.perplexity.ai"
    assert CATALOGUE["ai21"].base_url == "https://api.ai21.com/studio/v1"
    assert "lmnr" not in (CATALOGUE["infinity"].base_url or "")
    assert CATALOGUE["triton"].base_url == "http://localhost:9000/v1"  # 8001 is Triton's gRPC port


def test_shut_down_ids_are_gone_from_the_openai_compatible_family():
    # Past their providers' shutdown dates (see each entry's notes for the source page).
    assert "o3-mini" not in CATALOGUE["openai"].models  # 2026-10-23
    assert not {"llama-3.3-70b-versatile", "llama-3.1-8b-instant"} & set(CATALOGUE["groq"].models)  # 2026-08-16
    assert "MiniMax-M1" not in CATALOGUE["minimax"].models
    assert not {"claude-4.5-sonnet", "gemini-2.5-flash-lite"} & set(CATALOGUE["helicone"].models)
    # Live lists where the provider documents one; Together's answers a bare array (read as one).
    assert CATALOGUE["together_ai"].models_endpoint == "/models"
    assert CATALOGUE["helicone"].models_endpoint == "/models"
    assert "User-Agent" in CATALOGUE["publicai"].headers  # its gateway requires one


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_adapter_module_exposes_a_provider(name):
    adapter = CATALOGUE[name].adapter
    assert importlib.util.find_spec(f"llmg.providers.{adapter}") is not None, f"{name}: llmg.providers.{adapter} is missing"
    module = importlib.import_module(f"llmg.providers.{adapter}")
    assert issubclass(module.ADAPTER, Provider)


def _plan(environ: dict[str, str], text: str = ""):
    return registry.plan(parse(text, "test.toml", environ), environ)


@pytest.mark.parametrize(
    "name,var",
    sorted((n, v) for n, s in CATALOGUE.items() if s.key_required and s.adapter in GENERIC for v in s.env),
)
def test_each_key_variable_alone_registers_its_provider(name, var):
    env = {var: "k-123"}
    spec = CATALOGUE[name]
    if spec.base_url is None:  # per-account endpoints (Azure) also need theirs
        env[spec.base_url_env[0]] = "https://r.example.test"
    result = _plan(env, "")
    assert name in result.registered, result.skipped.get(name)
    assert result.registered[name].api_key == "k-123"


def test_local_servers_need_a_section_but_no_key():
    result = _plan({}, "[providers.vllm]\n[providers.triton]\n")
    assert result.registered["vllm"].api_key is None
    assert result.registered["triton"].base_url == "http://localhost:9000/v1"
    assert "lm_studio" in result.skipped


def test_openrouter_attribution_headers_come_from_env():
    env = {"OPENROUTER_API_KEY": "k", "OPENROUTER_APP_NAME": "My App", "OPENROUTER_HTTP_REFERER": "https://x.test"}
    headers = _plan(env).registered["openrouter"].headers
    assert headers == {"x-title": "My App", "http-referer": "https://x.test"}
    assert _plan({"OPENROUTER_API_KEY": "k"}).registered["openrouter"].headers == {}


# --- pure functions of the adapters ------------------------------------------------------------

def test_azure_url_and_deployment_mapping():
    url = azure_openai_url("https://r.openai.azure.com", "my/dep", "chat/completions", "2024-10-21")
    assert url == "https://r.openai.azure.com/openai/deployments/my%2Fdep/chat/completions?api-version=2024-10-21"
    assert _endpoint("https://r.openai.azure.com/openai/") == "https://r.openai.azure.com"
    assert azure_openai_url("https://r.openai.azure.com", "d", "embeddings", "v1") == "https://r.openai.azure.com/openai/v1/embeddings"
    assert deployment_map("azure", {"deployments": {"gpt-4o": "prod-4o"}}) == {"gpt-4o": "prod-4o"}
    with pytest.raises(ConfigError, match="params.deployments"):
        deployment_map("azure", {"deployments": ["gpt-4o"]})


def test_refusals_say_what_to_do():
    err = refusal("deepgram", "Deepgram", "speech-to-text (POST /v1/listen)", "chat completions")
    assert isinstance(err, NotSupported) and err.status == 501 and err.code == "not_supported"
    assert err.message == "deepgram (Deepgram) cannot serve chat completions: it offers speech-to-text (POST /v1/listen)."
    bad = chat_refusal("voyageai", "Voyage AI")
    assert isinstance(bad, InvalidRequest) and bad.status == 400
    assert "embeddings only" in bad.message and "voyageai/<model>" in bad.message


# --- the README table ----------------------------------------------------------------------------

def test_readme_table_matches_the_catalogue():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_section(readme) == markdown_table(), (
        "README provider table is stale: run `python -m llmg providers --write-readme README.md`"
    )


def test_readme_table_lists_every_prefix_once():
    table = markdown_table()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert sorted(line.split("`")[1] for line in rows) == sorted(CATALOGUE)
    text = "a\n<!-- providers:start -->\nold\n<!-- providers:end -->\nb"
    assert replace_readme_section(text, "new\n") == "a\n<!-- providers:start -->\nnew\n<!-- providers:end -->\nb"


def _azure(params: dict) -> AzureOpenAIProvider:
    settings = Settings(name="azure", spec=CATALOGUE["azure"], api_key="k", base_url="https://r.openai.azure.com/",
                        timeout=Timeout(total=5, connect=1), headers={}, models=None, params=params)
    return AzureOpenAIProvider(settings, transport=None)  # the pure parts never touch the transport


def _call(body: bytes, model: str) -> Call:
    return Call(body, msgspec.json.decode(body, type=ChatCompletionRequest), f"azure/{model}", model, "req-1")


def test_azure_body_names_the_deployment_only_for_the_v1_api():
    raw = b'{"model":"azure/gpt-4o","messages":[{"role":"user","content":"hi"}]}'
    classic = _azure({"deployments": {"gpt-4o": "prod-4o"}})
    assert classic.headers["api-key"] == "k" and "authorization" not in classic.headers
    assert classic.url("gpt-4o", "chat/completions").endswith("/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21")
    assert msgspec.json.decode(classic.body(_call(raw, "gpt-4o")))["model"] == "gpt-4o"
    v1 = _azure({"deployments": {"gpt-4o": "prod-4o"}, "api_version": "v1"})
    assert v1.url("gpt-4o", "chat/completions") == "https://r.openai.azure.com/openai/v1/chat/completions"
    assert msgspec.json.decode(v1.body(_call(raw, "gpt-4o")))["model"] == "prod-4o"
    with pytest.raises(ConfigError, match="api_version"):
        _azure({"api_version": "2024-10-21&x=1"})


def test_providers_command_writes_and_checks_the_readme(tmp_path, capsys):
    from llmg.cli import main

    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- providers:start -->\nstale\n<!-- providers:end -->\ntail\n", encoding="utf-8")
    assert main(["providers", "--check-readme", str(readme)]) == 1
    assert main(["providers", "--write-readme", str(readme)]) == 0
    assert main(["providers", "--check-readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# x\n<!-- providers:start -->\n") and text.endswith("<!-- providers:end -->\ntail\n")
    assert main(["providers", "--markdown"]) == 0
    assert capsys.readouterr().out.endswith(markdown_table())


# --- the catalogue stays current (issue 17, item 5) ----------------------------------------------


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_entry_records_its_check_date(name):
    import datetime as dt

    checked = dt.date.fromisoformat(CATALOGUE[name].checked)
    assert dt.date(2026, 1, 1) <= checked <= dt.date.today() + dt.timedelta(days=1)


def test_retired_services_and_model_ids_are_gone():
    assert CATALOGUE["ai21"].adapter == "unsupported" and "2026-08-09" in (CATALOGUE["ai21"].offers or "")
    assert not {"deepseek-chat", "deepseek-reasoner"} & set(CATALOGUE["deepseek"].models)
    assert not {"claude-sonnet-4-5", "claude-sonnet-4-0"} & set(CATALOGUE["anthropic"].models)
    assert not {"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"} & set(CATALOGUE["gemini"].models)
    assert "embeddings" not in CATALOGUE["sambanova"].capabilities


def test_ai21_answers_501(tmp_path):
    result = _plan({"AI21_API_KEY": "k-123"})
    provider = registry.instantiate({"ai21": result.registered["ai21"]}, transport=None)["ai21"]  # type: ignore[arg-type]
    with pytest.raises(NotSupported) as err:
        raise provider.unsupported("chat completions")
    assert err.value.status == 501 and "2026-08-09" in err.value.message


def test_nvidia_entry():
    spec = CATALOGUE["nvidia"]
    assert spec.base_url == "https://integrate.api.nvidia.com/v1" and spec.env[0] == "NVIDIA_API_KEY"
    assert _plan({"NVIDIA_API_KEY": "nv-123"}).registered["nvidia"].base_url == "https://integrate.api.nvidia.com/v1"


def test_readme_table_states_credential_sources_and_check_dates():
    table = markdown_table()
    assert "| Credentials |" in table and "| Checked |" in table
    vertex = next(line for line in table.splitlines() if line.startswith("| `vertex_ai`"))
    assert "metadata server" in vertex and "workload identity" in vertex and "express mode" in vertex
    bedrock = next(line for line in table.splitlines() if line.startswith("| `bedrock`"))
    assert "AWS_BEARER_TOKEN_BEDROCK" in bedrock and "instance role" in bedrock
