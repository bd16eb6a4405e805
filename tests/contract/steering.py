"""Point schema-valid requests at the registered provider, for fuzz runs against the mock.

A generated ``provider/model`` almost never names a registered provider, so without this nearly every
valid request would stop at 404 ``Unknown provider`` and the provider path would go unfuzzed. Half of
the positive cases (chosen by the length of the generated id, so runs stay reproducible) get their
provider replaced with ``mock``; the rest of the id is untouched, so the body stays schema-valid and
every check still applies. Negative cases are never touched.
"""

from __future__ import annotations

from typing import Any

PROVIDER = "mock"


def steer(case: Any) -> None:
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return
    model = case.body.get("model")
    if isinstance(model, str) and "/" in model and len(model) % 2 == 0:
        case.body["model"] = f"{PROVIDER}/{model.partition('/')[2]}"
