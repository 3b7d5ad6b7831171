"""The `probes` method: the council's experts write test inputs, and every pool's candidates run on them.

It generates no candidates. It asks each council persona (greedy) for calls of the function, as
`livemind code --probes` does, and records what every first-round candidate of the pools already
judged for the problem (the best expert's samples, the greedy and the sampled council) returns on
them. The report then chooses again among each pool's candidates with the probes joining the
examples, so the same candidates are chosen with and without the experts' inputs: the gain or loss
is the probes' alone. Probes carry no expected values and the official tests never reach them.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from livemind.council.code.consensus import PROBE_MAX_TOKENS
from livemind.council.code.evidence import probe_behaviour
from livemind.council.code.probes import merge_probes, probe_question, read_probes
from livemind.council.prompts import expert_seed
from livemind.evaluation.code.problems import CodeProblem
from livemind.evaluation.code.records import CodePlan, MethodRun
from livemind.orchestrator import LiveMind
from livemind.types import Answer

PROBE_POOLS = ("samples", "council-greedy", "council-sampled")
PROBES_PER_EXPERT = 5


def run_probes(mind: LiveMind, task: str, problem: CodeProblem, plan: CodePlan, pools: Mapping[str, MethodRun], *,
               seed: int, timeout_s: float) -> MethodRun:
    """The council's probes for one problem (task: the words every method is given) and each pool's behaviour."""
    question = probe_question(task, problem.entry_point, PROBES_PER_EXPERT, problem.prompt)

    def ask(expert: str) -> Answer:
        return mind.ask(question, expert=expert, temperature=0.0, max_tokens=PROBE_MAX_TOKENS,
                        seed=expert_seed(seed, f"probes/{problem.task_id}", 0) or 0,
                        batch_group=f"probes/{problem.task_id}")

    with ThreadPoolExecutor(max_workers=len(plan.council), thread_name_prefix="code-probes") as pool:
        replies = list(pool.map(ask, plan.council))
    stated = [e.call for e in problem.task().examples]
    calls = merge_probes([read_probes(r.answer, problem.entry_point)[:PROBES_PER_EXPERT] for r in replies], stated)
    behaviour: dict[str, tuple[tuple[str, ...], ...]] = {}
    for name in PROBE_POOLS:
        if name in pools:
            behaviour[name] = tuple(
                probe_behaviour(c.evidence.code, calls, timeout_s=timeout_s) if c.evidence.is_runnable and c.evidence.code
                else () for c in pools[name].candidates if c.round == 0)
    return MethodRun(method="probes", task_id=problem.task_id, temperature=0.0, candidates=(),
                     tokens=sum(r.tokens for r in replies), prompt_tokens=sum(r.prompt_tokens for r in replies),
                     seconds=0.0, detail=f"{len(calls)} probes from {', '.join(plan.council)}", probe_calls=calls,
                     probe_behaviour=behaviour)
