"""`livemind code --experts BEST,… --lead-samples 4` picks what the HumanEval report scored as "every persona
greedy + the best expert's 4 samples, execution-selected".

The committed run keeps every reply. Here CodeCouncil, the code behind `livemind code`, `LiveMind.code`, the
MCP `code` tool and POST /v1/livemind/code, is asked each contested problem as a user would ask it (the task
and the problem's prompt as the signature); its `ask` seam hands back the stored replies (each persona's
greedy reply, the best expert's samples for its lead samples), every program runs again in the real sandbox,
and the pick must be the candidate the report scored. So the report's 78 % is what that command runs.
"""

from __future__ import annotations

from pathlib import Path

from livemind.council.code.consensus import Ask, CodeCouncil
from livemind.council.code.selection import select_by_execution
from livemind.evaluation.code.personas import persona_answers
from livemind.evaluation.code.problems import load_humaneval
from livemind.evaluation.code.records import Candidate, CodePlan
from livemind.evaluation.code.runner import CODE_TASK
from livemind.evaluation.code.store import CodeRunStore
from livemind.types import Answer

RUN = Path(__file__).resolve().parents[3] / "docs" / "eval" / "humaneval-default"
PROBLEMS = {p.task_id: p for p in load_humaneval()}
SEED = 1000


def _answer(c: Candidate) -> Answer:
    return Answer(answer=c.text, expert=c.expert, model="stored", tokens=c.tokens, prompt_tokens=c.prompt_tokens,
                  ttft_s=0.0, total_s=0.0, tok_s=0.0, finish_reason=c.finish_reason, mean_logprob=c.mean_logprob)


def _stored(greedy: dict[str, Candidate], samples: list[Candidate], lead: str) -> Ask:
    """The `ask` seam answering from the stored replies: a greedy call its persona's, a lead sample its sample's."""
    def ask(question: str, expert: str, temperature: float, seed: int | None, max_tokens: int) -> Answer:
        if temperature == 0.0:
            return _answer(greedy[expert])
        assert expert == lead and seed is not None
        return _answer(samples[seed - SEED - 1])  # lead sample j has seed SEED + 1 + j
    return ask


def test_the_live_pool_chooses_the_candidate_the_report_scored() -> None:
    store = CodeRunStore(RUN)
    plan = CodePlan.model_validate_json((RUN / "run" / "plan.json").read_text())
    contested = 0
    for task_id in sorted(PROBLEMS, key=lambda t: int(t.split("/")[1])):
        runs = {m: r for m in ("single", "council-greedy", "personas-greedy", "samples")
                if (r := store.method(task_id, m)) is not None}
        if len(runs) < 4:
            continue
        greedy = persona_answers(runs, plan)
        samples = list(runs["samples"].candidates)
        pool = [*greedy.values(), *samples]
        if len({c.evidence.behaviour for c in pool}) < 2:
            continue  # every candidate behaves alike: any pick scores the same
        contested += 1
        scored = select_by_execution([c.evidence for c in pool], [c.mean_logprob for c in pool]).chosen
        assert scored is not None

        order = [plan.best_expert, *(n for n in greedy if n != plan.best_expert)]
        council = CodeCouncil(_stored(greedy, samples, plan.best_expert))
        result = council.run(CODE_TASK, order, signature=PROBLEMS[task_id].prompt, seed=SEED, lead_samples=len(samples))
        chosen = pool[scored]
        sample = 0 if chosen in greedy.values() else samples.index(chosen) + 1
        winners = [(c.expert, c.sample) for c in result.candidates if c.group == 0]
        assert (chosen.expert, sample) in winners, f"{task_id}: the report's pick is not in the live winning group"
        assert result.answer.strip().endswith(chosen.program.code.strip().splitlines()[-1].strip()), task_id
        if contested >= 12:
            break
    assert contested >= 12, "the committed run should hold problems whose pooled candidates behave differently"
