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


def test_a_child_times_its_steps_in_a_second_thread_beside_an_idle_team(catalog: ModelCatalog) -> None:
    model = catalog.resolve("smollm2-135m").path
    (result,) = _children(1, Path(model), 2, (1,), os.environ.copy(), 120.0, teams=2)
    assert set(result) == {"1"} and 0.5 < result["1"] < 5000, result
