"""The wait-policy figure: a child process times real decode steps under the policy it is given."""

from __future__ import annotations

import os
from pathlib import Path

from livemind.bench.wait_policy import POLICIES, _children
from livemind.engine.catalog import ModelCatalog


def test_a_child_times_decode_steps_under_its_policy(catalog: ModelCatalog) -> None:
    model = catalog.resolve("smollm2-135m").path
    name, setting = next(iter(POLICIES.items()))
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")} | setting
    (result,) = _children(1, Path(model), 1, (1, 2), env, 120.0)
    assert set(result) == {"1", "2"}
    assert all(0.5 < ms < 5000 for ms in result.values()), (name, result)
