"""The offline model lists name no model its provider has retired (issue 17, item 5).

The ids below are past their shutdown or no longer offered, per the provider's own pages (the
entry's notes say which page and when). A catalogue id is what /v1/models lists when the live
list is unreachable, so a retired one there sends users to a 404.
"""

from __future__ import annotations

from llmg.providers.catalogue import load_catalogue

CATALOGUE = load_catalogue()


def test_bedrock_lists_no_claude_3_model():
    # Claude 3.5 Sonnet reached Bedrock EOL on 2026-03-01, 3.7 Sonnet on 2026-04-28.
    models = CATALOGUE["bedrock"].models
    assert models and not [m for m in models if "claude-3" in m]


def test_bedrock_claude_ids_are_converse_capable():
    # Claude models after Opus 4.6 are served on Bedrock's Messages-API endpoint, not Converse,
    # which is all the bedrock adapter speaks.
    claude = [m for m in CATALOGUE["bedrock"].models if ".anthropic." in f".{m}"]
    assert claude and not [m for m in claude if "sonnet-5" in m or "opus-4-7" in m or "opus-4-8" in m]


def test_copilot_lists_only_models_copilot_still_offers():
    assert not {"gpt-4o", "gpt-4.1", "o3-mini", "claude-sonnet-4"} & set(CATALOGUE["github_copilot"].models)


def test_cohere_lists_no_deprecated_command_model():
    deprecated = {"command", "command-light", "command-r", "command-r-plus", "command-r-03-2024", "command-r-plus-04-2024"}
    assert not deprecated & set(CATALOGUE["cohere"].models)


def test_embedding_providers_list_their_current_generation():
    assert "voyage-4-large" in CATALOGUE["voyageai"].models
    assert "jina-embeddings-v4" in CATALOGUE["jina_ai"].models
