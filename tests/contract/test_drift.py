"""The committed contract, the msgspec Structs and the app's routes must agree.

If one of these fails after a change to ``llmg/schemas/openai.py`` or ``llmg/errors.py``: run
``./dev contract`` and commit ``contracts/openapi.yaml``. If it fails after adding a route: describe
the route in ``llmg/contract.py`` first.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
import yaml

from llmg import contract
from llmg.app import create_app
from llmg.config import parse

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "contracts" / "openapi.yaml"


def test_committed_contract_is_what_the_code_generates() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == contract.to_yaml(), (
        "contracts/openapi.yaml is out of date: run ./dev contract (llmg contract) and commit it"
    )


def test_committed_yaml_parses_to_the_generated_document() -> None:
    # Also guards the YAML writer: what a reader of the file gets is exactly the built document.
    assert yaml.safe_load(COMMITTED.read_text(encoding="utf-8")) == msgspec.json.decode(contract.to_json())


def test_contract_is_valid_openapi_3_1() -> None:
    import schemathesis

    schemathesis.openapi.from_dict(contract.build()).validate()  # against the OpenAPI 3.1 meta-schema


def test_cli_check_fails_on_a_stale_file_and_passes_on_a_fresh_one(tmp_path: Path) -> None:
    target = tmp_path / "openapi.yaml"
    run = [sys.executable, "-m", "llmg", "contract", "--output", str(target)]
    written = subprocess.run(run, capture_output=True, text=True, cwd=ROOT)
    assert written.returncode == 0, written.stderr
    assert target.read_text(encoding="utf-8") == contract.to_yaml()
    assert subprocess.run([*run, "--check"], capture_output=True, cwd=ROOT).returncode == 0

    target.write_text(target.read_text(encoding="utf-8").replace("minimum: 0", "minimum: 1", 1), encoding="utf-8")
    stale = subprocess.run([*run, "--check"], capture_output=True, text=True, cwd=ROOT)
    assert stale.returncode == 1
    assert "out of date" in stale.stderr


def test_every_struct_field_is_in_the_contract() -> None:
    """The schemas are the Structs': same fields, same required ones, for every published Struct."""
    schemas = contract.build()["components"]["schemas"]
    seen: set[type] = set()

    def walk(struct: type) -> None:
        if struct in seen:
            return
        seen.add(struct)
        fields = msgspec.structs.fields(struct)
        schema = schemas[struct.__name__]
        # A tagged Struct (one member of a union told apart by "type") also has its tag, required.
        tag = {struct.__struct_config__.tag_field} if struct.__struct_config__.tag_field else set()
        assert set(schema["properties"]) == {f.encode_name for f in fields} | tag, struct.__name__
        required = {f.encode_name for f in fields if f.required} | tag
        assert set(schema.get("required", [])) == required, struct.__name__
        for f in fields:
            for candidate in _structs_in(f.type):
                walk(candidate)

    for struct in contract.STRUCTS:
        walk(struct)
    assert len(seen) == len(schemas)  # and nothing else: every schema comes from a Struct


def _structs_in(annotation: object) -> list[type]:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return [annotation]
    return [s for arg in typing.get_args(annotation) for s in _structs_in(arg)]


def test_a_changed_struct_changes_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """The drift check has teeth: a new field on a request Struct shows up in the generated file."""

    class Widened(msgspec.Struct, kw_only=True):
        model: str
        brand_new_field: int | None = None

    Widened.__name__ = "ChatCompletionRequest"
    monkeypatch.setattr(contract, "STRUCTS", (Widened, *contract.STRUCTS[1:]))
    contract.build.cache_clear()
    try:
        with pytest.raises(contract.ContractError):  # the model refinement no longer matches either
            contract.build()
        monkeypatch.setattr(contract, "_REFINEMENTS", {})
        text = contract.to_yaml()
        assert "brand_new_field" in text
        assert text != COMMITTED.read_text(encoding="utf-8")
    finally:
        contract.build.cache_clear()


def test_refinements_are_guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refinement replaces a property only while the Struct still generates what it was written for."""
    key = ("EmbeddingsRequest", "input")
    generated, refined = contract._REFINEMENTS[key]
    monkeypatch.setitem(contract._REFINEMENTS, key, ({"type": "string"}, refined))
    with pytest.raises(contract.ContractError, match="EmbeddingsRequest.input"):
        contract.schemas()


def test_model_pattern_is_the_routers_rule() -> None:
    """The contract's `model` pattern accepts exactly what llmg.routing accepts after the provider."""
    from llmg.routing import _MODEL_ID

    pattern = re.compile(contract.MODEL_PATTERN)
    samples = [
        "mock/mock-1", "openai/gpt-4o", "openrouter/openai/gpt-4o:free", "x/a.b", "x/a./b", "x/a.-b",
        "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", "ollama/llama3:8b", "hf/meta-llama/L@rev+1",
        "x/a..b", "x/../etc", "x/.hidden", "x/a b", "x/a?b", "x/a#b", "x/a\nb", "x/é", "x/", "x//a",
        "x/a/", "x/-a", "x/a%2e", "noslash", "x/a_b", "x/_a",
    ]
    for sample in samples:
        rest = sample.partition("/")[2]
        router_ok = "/" in sample and bool(_MODEL_ID.fullmatch(rest)) and ".." not in rest
        assert bool(pattern.fullmatch(sample)) == router_ok, sample


def _sanic_path(uri: str) -> str:
    return re.sub(r"<([A-Za-z_]+)(?::[^>]*)?>", r"{\1}", uri if uri.startswith("/") else "/" + uri)


def test_every_route_of_the_app_is_in_the_contract_and_back() -> None:
    app = create_app(parse("[providers.mock]\n", "test", {}), name="contract_drift")
    served = {
        (_sanic_path(route.path).rstrip("/") or "/", method.lower())
        for route in app.router.routes
        for method in route.methods
        if method not in ("HEAD", "OPTIONS")
    }
    described = {(path, method) for path, item in contract.build()["paths"].items() for method in item}
    assert served == described


def test_contract_covers_the_error_statuses_and_headers() -> None:
    document = contract.build()
    responses = document["components"]["responses"]
    statuses = {str(s) for s in (400, 401, 404, 405, 413, 415, 429, 431, 500, 501, 502, 504)}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"405", "500"} <= codes, (path, method)
            assert ("401" in codes) == (path not in ("/health", "/health/ready")), (path, method)
            if method == "post":
                assert statuses <= codes, (path, method)
            for code, response in operation["responses"].items():
                if "$ref" in response:
                    response = responses[response["$ref"].rsplit("/", 1)[1]]
                assert "x-request-id" in response["headers"], (path, method, code)
                if code != "200":
                    schema = response["content"]["application/json"]["schema"]
                    # Anthropic's Messages routes answer errors in Anthropic's shape
                    name = "AnthropicErrorResponse" if path.startswith("/v1/messages") else "ErrorResponse"
                    assert schema == {"$ref": f"#/components/schemas/{name}"}
    assert document["paths"]["/health"]["get"]["security"] == []
    assert document["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        **document["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}
    stream = document["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert set(stream) == {"application/json", "text/event-stream"}


def test_both_403_refusals_are_documented() -> None:
    # The error table once had two 403 entries, and the second silently replaced the first: the
    # Host guard's refusal vanished from the contract (ruff's F601 now flags a repeated key too).
    from llmg.hosts import HostNotAllowed

    forbidden = contract.build()["components"]["responses"]["Forbidden"]
    assert HostNotAllowed.status == 403
    assert f"`{HostNotAllowed().code}`" in forbidden["description"]
    assert "`model_not_allowed`" in forbidden["description"]
