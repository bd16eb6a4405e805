"""OpenAI /v1/embeddings <-> Bedrock InvokeModel for the embedding models: pure translation tables.

Converse has no embeddings; each embedding family takes its own InvokeModel body
(``POST /model/{modelId}/invoke``):

  Titan Text Embeddings  https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html
      request  {"inputText": str, "dimensions": 256|512|1024 (v2), "normalize": bool (v2)}
      answer   {"embedding": [float], "inputTextTokenCount": int}
      ONE text per call: a batch becomes one call per input (``Family.batch`` = 1).
  Cohere Embed v3 / v4    https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed-v3.html
      request  {"texts": [str] (<= 96), "input_type": ..., "embedding_types": ["float"], "output_dimension" (v4)}
      answer   {"embeddings": {"float": [[float]]}, "response_type": "embeddings_by_type", ...}
      ``input_type`` is required: the client's ``input_type`` (an extra field, as Cohere clients send
      it), else ``params.input_type``, else ``search_document``. The body holds no token counts:
      usage comes from InvokeModel's ``X-Amzn-Bedrock-Input-Token-Count`` header.

``dimensions`` is refused with a clear 400 where the model has no such setting (Titan v1, Cohere v3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequest, ProviderError
from .bedrock_map import base_model

COHERE_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")
TOKEN_HEADER = "x-amzn-bedrock-input-token-count"


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # "titan" | "cohere"
    batch: int  # inputs per InvokeModel call
    dimensions: str | None  # the body field for OpenAI's ``dimensions``, None when the model has none


TITAN_V1 = Family("titan", 1, None)
TITAN_V2 = Family("titan", 1, "dimensions")
COHERE_V3 = Family("cohere", 96, None)
COHERE_V4 = Family("cohere", 96, "output_dimension")
# Model-id prefixes (after any geography of an inference profile) -> family.
FAMILIES = (
    ("amazon.titan-embed-text-v2", TITAN_V2),
    ("amazon.titan-embed-text-v1", TITAN_V1),
    ("amazon.titan-embed-g1-text", TITAN_V1),
    ("cohere.embed-v4", COHERE_V4),
    ("cohere.embed-", COHERE_V3),
)


def family_of(model: str) -> Family:
    base = base_model(model)
    for prefix, family in FAMILIES:
        if base.startswith(prefix):
            return family
    raise InvalidRequest(f"bedrock: embeddings are mapped for the Titan Text Embeddings and Cohere Embed models, not {model}",
                         param="model", code="model_not_supported")


def texts_of(data: Mapping[str, Any]) -> list[str]:
    items = data.get("input")
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
        raise InvalidRequest("bedrock embeds text: input must be a string or a non-empty array of strings (not token ids)",
                             param="input")
    return items


def request_body(family: Family, model: str, data: Mapping[str, Any], texts: Sequence[str],
                 default_input_type: str) -> dict[str, Any]:
    """The InvokeModel body for ``texts`` (one text for Titan, up to 96 for Cohere)."""
    dims = data.get("dimensions")
    if dims is not None and family.dimensions is None:
        raise InvalidRequest(f"bedrock: {model} has a fixed embedding size; dimensions is not supported",
                             param="dimensions", code="unsupported_parameter")
    body: dict[str, Any]
    if family.name == "titan":
        body = {"inputText": texts[0]}
        if family.dimensions is not None:
            body["normalize"] = True  # unit vectors, as OpenAI's embeddings are
    else:
        input_type = data.get("input_type") or default_input_type
        if input_type not in COHERE_INPUT_TYPES:
            raise InvalidRequest(f"input_type must be one of {', '.join(COHERE_INPUT_TYPES)}", param="input_type")
        body = {"texts": list(texts), "input_type": input_type, "embedding_types": ["float"]}
    if dims is not None and family.dimensions is not None:
        body[family.dimensions] = dims
    return body


def vectors_of(family: Family, answer: Any, headers: Mapping[str, str], count: int) -> tuple[list[list[float]], int]:
    """(vectors, input tokens) of one InvokeModel answer; the wrong number of vectors is a 502."""
    if not isinstance(answer, dict):
        raise ProviderError("bedrock: the embeddings answer is not a JSON object", code="upstream_bad_response")
    if family.name == "titan":
        vectors = [answer["embedding"]]
        tokens = answer.get("inputTextTokenCount")
    else:
        embeddings = answer["embeddings"]
        vectors = embeddings["float"] if isinstance(embeddings, dict) else embeddings  # by type, or floats
        tokens = None
    if not isinstance(tokens, int):
        header = headers.get(TOKEN_HEADER) or headers.get("X-Amzn-Bedrock-Input-Token-Count") or "0"
        tokens = int(header) if header.isdigit() else 0
    if not isinstance(vectors, list) or len(vectors) != count:
        raise ProviderError(f"bedrock: {len(vectors) if isinstance(vectors, list) else 0} embeddings for {count} inputs",
                            code="upstream_bad_response")
    return vectors, tokens
