"""The seed's operations rule as a gate: a parallel council that would take RAM past 80% takes turns.

Real models (SmolLM2-135M and Gemma 3 270M through llama.cpp), the real pool, RAM guard, graph
and orchestrator. The machine's memory is a scripted gauge, as in the turn-switch test under a
budget: a machine sized so that either model fits below the soft target (80%) but both together
would take it to about 85%, still under the hard limit (90%). Without the gate the council
would load both at once, in parallel.
"""

from __future__ import annotations

import threading
from pathlib import Path

from livemind.config import LiveMindConfig
from livemind.engine.ram import MemoryReading, RamGuard
from livemind.orchestrator import LiveMind

QUESTION = "Can humans be replaced by AI within 20 years?"


class Machine:
    """Used memory: what other processes hold, plus the pool's models as the pool accounts them."""

    def __init__(self, mind: LiveMind, *, total: int, others: int) -> None:
        self.total, self.others = total, others
        self._mind = mind
        self._lock = threading.Lock()
        self.peak_percent = 0.0

    def read(self) -> MemoryReading:
        used = self.others + self._mind.pool.pool_bytes()
        with self._lock:
            self.peak_percent = max(self.peak_percent, 100 * used / self.total)
        return MemoryReading(total=self.total, used=used, available=self.total - used, source="test machine")


def test_a_parallel_council_that_would_pass_the_soft_target_takes_turns_and_says_why(
        home: Path, tiny_config: LiveMindConfig) -> None:
    mind = LiveMind(tiny_config, home=home)
    try:
        sizes = sorted(mind.pool.estimate(mind.runner.target_for(tiny_config.expert(name))).total
                       for name in ("generalist", "futurist"))
        # both models take the machine to 85%; without the smaller one it stays at 85% - 10% = 75%
        total = sizes[0] * 10
        machine = Machine(mind, total=total, others=int(0.85 * total) - sum(sizes))
        assert machine.others > 0
        mind.pool.guard = RamGuard(hard_limit_percent=90, soft_target_percent=80, reader=machine.read)
        result = mind.debate(QUESTION, experts=["generalist", "futurist"], rounds=0, mode="parallel", seed=5,
                             max_tokens=16)
    finally:
        mind.close()
    assert result.mode == "turns", result.mode_reason
    assert "would take system RAM past the soft target of 80%" in result.mode_reason, result.mode_reason
    assert "the hard limit, 90%, is where loads are refused" in result.mode_reason
    assert {p.expert for p in result.positions} == {"generalist", "futurist"}, result.dropped
    assert mind.pool.max_loaded_at_once == 1, "one model in RAM at a time"
    assert machine.peak_percent <= 80.0, f"RAM reached {machine.peak_percent:.1f}%"
    assert not [e for e in mind.pool.events if e.kind == "refuse"], "nothing was refused: 90% was never in reach"


def test_a_council_that_stays_below_the_soft_target_still_runs_in_parallel(
        home: Path, tiny_config: LiveMindConfig) -> None:
    mind = LiveMind(tiny_config, home=home)
    try:
        sizes = [mind.pool.estimate(mind.runner.target_for(tiny_config.expert(name))).total
                 for name in ("generalist", "futurist")]
        total = sum(sizes) * 4  # both models: 25% of the machine, on top of 50% held by others
        machine = Machine(mind, total=total, others=total // 2)
        mind.pool.guard = RamGuard(hard_limit_percent=90, soft_target_percent=80, reader=machine.read)
        result = mind.debate(QUESTION, experts=["generalist", "futurist"], rounds=0, mode="parallel", seed=5,
                             max_tokens=16)
    finally:
        mind.close()
    assert result.mode == "parallel", result.mode_reason
    assert mind.pool.max_loaded_at_once == 2
    assert 75.0 <= machine.peak_percent <= 80.0
