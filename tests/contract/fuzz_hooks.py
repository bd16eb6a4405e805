"""schemathesis hooks for ``./dev fuzz`` (loaded by the CLI through ``SCHEMATHESIS_HOOKS``)."""

from __future__ import annotations

import schemathesis

from tests.contract.steering import steer


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    steer(case)
    return case
