"""LiveMind's OpenMP wait policy is set before the engine loads, and a user's own choice wins."""

from __future__ import annotations

import subprocess
import sys

from livemind.engine.backends.base import ENGINE_SPIN_COUNT, ENGINE_WAIT_POLICY, apply_engine_wait_policy


def test_a_short_active_spin_is_set_only_when_the_user_chose_nothing() -> None:
    # ACTIVE too: without it libgomp cuts the spin to 100 once a process has more OpenMP threads than CPUs
    assert apply_engine_wait_policy({}) == {"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": ENGINE_SPIN_COUNT}
    assert ENGINE_WAIT_POLICY["GOMP_SPINCOUNT"] == ENGINE_SPIN_COUNT
    assert apply_engine_wait_policy({"OMP_WAIT_POLICY": "PASSIVE"}) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert apply_engine_wait_policy({"GOMP_SPINCOUNT": "0"}) == {"GOMP_SPINCOUNT": "0"}


def test_importing_the_engine_module_sets_the_policy_and_loads_llama_cpp_in_the_same_process() -> None:
    code = ("import os, sys; import livemind.engine.backends.llama_cpp as b; "
            "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'), 'llama_cpp' in sys.modules)")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    assert done.stdout.split() == ["ACTIVE", ENGINE_SPIN_COUNT, "True"]
