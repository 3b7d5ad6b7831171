"""The HumanEval report: every scored method's pass@1 with its spread, paired tests, the oracle, the cost.

Read from the judged method runs alone, so a report can be rebuilt from OUT/run at any time,
also while the run is still going (only problems every listed method finished are scored).

- greedy and selected methods: pass@1 is the share of problems whose one answer passes, with a
  95% Wilson interval, and an exact McNemar test against the greedy single expert on the same problems;
- sampled methods: the unbiased pass@1 is the mean over problems of the share of samples that
  pass, with a normal 95% interval over problems;
- the oracle: the share of problems where at least one candidate passes (the ceiling of any selection);
- self-consistency is also read at the council's budget: its first m samples, m chosen so their
  generated tokens match each council method's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from livemind.council.code.selection import RULE, select_by_execution
from livemind.evaluation.code.personas import PilotGreedy, measured_council, persona_answers, pick
from livemind.evaluation.code.plot import plot_code_report
from livemind.evaluation.code.records import Candidate, CodePlan, CodeReport, CodeScore, MethodRun
from livemind.evaluation.code.runner import CodeRun
from livemind.evaluation.scoring import mcnemar_p, wilson_interval

Runs = dict[str, MethodRun]


def _one_answer(key: str, label: str, runs: Sequence[Runs], pick: Callable[[Runs], Candidate | None],
                cost: Callable[[Runs], tuple[int, int, float, int, int]]) -> CodeScore:
    outcomes = [1.0 if (c := pick(r)) is not None and c.is_passed else 0.0 for r in runs]
    passed = int(sum(outcomes))
    low, high = wilson_interval(passed, len(runs))
    tokens, prompt, seconds, cut, candidates = (sum(x) for x in zip(*(cost(r) for r in runs), strict=True)) \
        if runs else (0, 0, 0.0, 0, 0)
    return CodeScore(key=key, label=label, kind="one answer", n=len(runs), pass_at_1=round(passed / max(len(runs), 1), 4),
                     ci_low=round(low, 4), ci_high=round(high, 4), passed=passed, generated_tokens=int(tokens),
                     prompt_tokens=int(prompt), seconds=round(float(seconds), 1), cut_off=int(cut),
                     candidates=int(candidates), per_problem=tuple(outcomes))


def _mean_score(key: str, label: str, kind: str, fractions: Sequence[float], cost: tuple[int, int, float, int, int]) -> CodeScore:
    n = len(fractions)
    mean = statistics.fmean(fractions) if fractions else 0.0
    half = 1.959964 * statistics.stdev(fractions) / math.sqrt(n) if n > 1 else 1.0
    tokens, prompt, seconds, cut, candidates = cost
    return CodeScore(key=key, label=label, kind=kind, n=n, pass_at_1=round(mean, 4), ci_low=round(max(0.0, mean - half), 4),
                     ci_high=round(min(1.0, mean + half), 4), passed=round(mean * n, 2), generated_tokens=tokens,
                     prompt_tokens=prompt, seconds=round(seconds, 1), cut_off=cut, candidates=candidates,
                     per_problem=tuple(round(f, 4) for f in fractions))


def _cost(*methods: str, first: int | None = None) -> Callable[[Runs], tuple[int, int, float, int, int]]:
    def cost(r: Runs) -> tuple[int, int, float, int, int]:
        tokens = prompt = cut = candidates = 0
        seconds = 0.0
        for m in methods:
            run = r[m]
            cs = run.candidates[:first] if first else run.candidates
            tokens += sum(c.tokens for c in cs) if first else run.tokens
            prompt += sum(c.prompt_tokens for c in cs) if first else run.prompt_tokens
            seconds += run.seconds * (len(cs) / max(len(run.candidates), 1))
            cut += sum(c.program.is_cut_off for c in cs)
            candidates += len(cs)
        return tokens, prompt, seconds, cut, candidates
    return cost


def _exec_pick(cs: Sequence[Candidate]) -> Candidate | None:
    chosen = select_by_execution([c.evidence for c in cs], [c.mean_logprob for c in cs]).chosen
    return cs[chosen] if chosen is not None else None


def _first_round(run: MethodRun) -> tuple[Candidate, ...]:
    return tuple(c for c in run.candidates if c.round == 0)


def _exec_first(method: str, m: int | None = None) -> Callable[[Runs], Candidate | None]:
    """Execution-selected among a method's first-round candidates (or its first m)."""
    def pick(r: Runs) -> Candidate | None:
        return _exec_pick(_first_round(r[method])[:m] if m else _first_round(r[method]))
    return pick


def _probed(method: str, m: int | None = None) -> Callable[[Runs], Candidate | None]:
    """Execution-selected as `_exec_first`, with the council's probes joining each candidate's behaviour."""
    def pick(r: Runs) -> Candidate | None:
        cs = _first_round(r[method])
        probes = r["probes"]
        outputs = probes.probe_behaviour.get(method, ())
        if len(outputs) != len(cs):  # the probes ran before this pool was complete: choose without them
            outputs = ((),) * len(cs)
        evidence = [c.evidence.model_copy(update={"behaviour": (*c.evidence.behaviour, *o), "probes": len(o)})
                    if o else c.evidence for c, o in zip(cs, outputs, strict=True)]
        evidence, cs = (evidence[:m], cs[:m]) if m else (evidence, cs)
        chosen = select_by_execution(evidence, [c.mean_logprob for c in cs]).chosen
        return cs[chosen] if chosen is not None else None
    return pick


def _with_probes(cost: Callable[[Runs], tuple[int, int, float, int, int]]) -> Callable[[Runs], tuple[int, int, float, int, int]]:
    """A method's cost plus what writing the probes cost."""
    def total(r: Runs) -> tuple[int, int, float, int, int]:
        tokens, prompt, seconds, cut, candidates = cost(r)
        p = r["probes"]
        return tokens + p.tokens, prompt + p.prompt_tokens, seconds + p.seconds, cut, candidates
    return total


def _final(method: str) -> Callable[[Runs], Candidate | None]:
    """A strategy's own answer."""
    def pick(r: Runs) -> Candidate | None:
        return r[method].final
    return pick


def _any_passing(*methods: str) -> Callable[[Runs], Candidate | None]:
    """The oracle: some candidate of these methods that passes."""
    def pick(r: Runs) -> Candidate | None:
        return next((c for m in methods for c in r[m].candidates if c.is_passed), None)
    return pick


def score_methods(runs: Sequence[Runs], methods: Sequence[str], plan_expert: str, *, plan: CodePlan | None = None,
                  pilot: PilotGreedy | None = None) -> list[CodeScore]:
    """Every scored method the finished generation methods allow (plan and pilot: for the persona councils)."""
    scores: list[CodeScore] = []
    have = set(methods)
    if "single" in have:
        scores.append(_one_answer("single", f"single expert ({plan_expert}), greedy", runs,
                                  lambda r: r["single"].candidates[0], _cost("single")))
    if "samples" in have:
        k = min(len(r["samples"].candidates) for r in runs) if runs else 0
        scores.append(_mean_score("single-sampled", f"single expert, sampled (mean of {k})", "mean over samples",
                                  [sum(c.is_passed for c in r["samples"].candidates) / len(r["samples"].candidates)
                                   for r in runs], _total(runs, _cost("samples"))))
        scores.append(_one_answer("sc-exec", f"self-consistency, {k} samples, execution-selected", runs,
                                  _exec_first("samples"), _cost("samples")))
        scores.append(_one_answer("oracle-samples", f"oracle: any of the {k} samples passes", runs,
                                  _any_passing("samples"), _cost("samples")).model_copy(update={"kind": "oracle"}))
        sample_tokens = sum(r["samples"].tokens for r in runs) / max(k, 1)
        for council in ("council-greedy", "council-sampled", "debate", "select"):
            if council in have and sample_tokens:
                m = max(1, min(k, round(sum(r[council].tokens for r in runs) / sample_tokens)))
                scores.append(_one_answer(f"sc-exec@{council}", f"self-consistency at {council}'s budget "
                                          f"(first {m} samples), execution-selected", runs,
                                          _exec_first("samples", m), _cost("samples", first=m)))
    for method, temp in (("council-greedy", "greedy"), ("council-sampled", "sampled")):
        if method not in have:
            continue
        scores.append(_one_answer(f"vote-{temp}", f"council vote ({temp}): the strategy's own pick", runs,
                                  _final(method), _cost(method)))
        scores.append(_one_answer(f"code-exec-{temp}", f"council ({temp}), execution-selected", runs,
                                  _exec_first(method), _cost(method)))
        scores.append(_mean_score(f"council-{temp}-mean", f"council personas ({temp}), mean of their answers",
                                  "mean over samples",
                                  [sum(c.is_passed for c in _first_round(r[method])) / max(len(_first_round(r[method])), 1)
                                   for r in runs], _total(runs, _cost(method))))
    if "probes" in have:
        scores += _probe_scores(runs, have)
    if {"single", "council-greedy", "personas-greedy"} <= have and plan is not None:
        scores += _persona_scores(runs, plan, pilot or {})
        if "samples" in have:
            scores += _pool_scores(runs, plan, "more-samples" in have)
    councils = [m for m in ("council-greedy", "council-sampled") if m in have]
    if councils:
        scores.append(_one_answer("oracle-council", "oracle: any council answer passes", runs,
                                  _any_passing(*councils), _cost(*councils)).model_copy(update={"kind": "oracle"}))
    for method, label in (("debate", "selective debate's pick"), ("select", "select strategy's pick")):
        if method in have:
            scores.append(_one_answer(method, label, runs, _final(method), _cost(method)))
    if "single" in have:
        base = scores[0].per_problem
        scores = [s if s.kind != "one answer" or s.key == "single" else
                  s.model_copy(update={"vs_single": _mcnemar(s.per_problem, base)}) for s in scores]
    return scores


def _persona_scores(runs: Sequence[Runs], plan: CodePlan, pilot: PilotGreedy) -> list[CodeScore]:
    """Code consensus over every persona's greedy answer, and over the council measured on the pilot."""
    names = [s.name for s in plan.pilot if not s.name.startswith("T=")]
    cost = _cost("single", "council-greedy", "personas-greedy")
    scores = [_one_answer("personas-exec", f"every persona ({len(names)}), greedy, execution-selected", runs,
                          lambda r: pick(persona_answers(r, plan), names), cost)]
    council, _ = measured_council(pilot, names)
    if council:
        def measured_cost(r: Runs) -> tuple[int, int, float, int, int]:
            cs = [c for n, c in persona_answers(r, plan).items() if n in council]
            seconds = cost(r)[2] * len(cs) / max(len(persona_answers(r, plan)), 1)  # the three methods' time, shared
            return (sum(c.tokens for c in cs), sum(c.prompt_tokens for c in cs), seconds,
                    sum(c.program.is_cut_off for c in cs), len(cs))
        scores.append(_one_answer("measured-exec", f"measured council ({', '.join(council)}), greedy, "
                                  f"execution-selected", runs, lambda r: pick(persona_answers(r, plan), council),
                                  measured_cost))
    scores.append(_one_answer("oracle-personas", "oracle: any persona's greedy answer passes", runs,
                              _any_passing("single", "council-greedy", "personas-greedy"), cost)
                  .model_copy(update={"kind": "oracle"}))
    return scores


POOL_NOTE = ("The pool rows (every persona's greedy answer with the best expert's samples) were added after the "
             "other rows were known: read them as a lead to confirm on other problems, not as a pre-registered result. "
             "Its fair baseline is self-consistency at the pool's size (method `more-samples`).")


def _pool_scores(runs: Sequence[Runs], plan: CodePlan, more: bool) -> list[CodeScore]:
    """Code consensus over every candidate drawn greedily by a persona or sampled from the best expert;
    with `more-samples`, self-consistency over as many samples as that pool holds (its fair baseline)."""
    def pool(r: Runs) -> list[Candidate]:
        return [*persona_answers(r, plan).values(), *_first_round(r["samples"])]

    def samples(r: Runs) -> list[Candidate]:
        return [*r["samples"].candidates, *r["more-samples"].candidates]
    k = min(len(r["samples"].candidates) for r in runs) if runs else 0
    cost = _cost("single", "council-greedy", "personas-greedy", "samples")
    scores = [_one_answer("pool-exec", f"every persona greedy + the best expert's {k} samples, execution-selected",
                          runs, lambda r: _exec_pick(pool(r)), cost),
              _one_answer("oracle-pool", "oracle: any persona's greedy answer or sample passes", runs,
                          lambda r: next((c for c in pool(r) if c.is_passed), None), cost).model_copy(update={"kind": "oracle"})]
    if more and runs:
        m = min(len(samples(r)) for r in runs)
        scores += [_one_answer("sc-exec@pool", f"self-consistency, {m} samples (the pool's size), execution-selected",
                               runs, lambda r: _exec_pick(samples(r)), _cost("samples", "more-samples")),
                   _one_answer("oracle-sc-pool", f"oracle: any of the {m} samples passes", runs,
                               lambda r: next((c for c in samples(r) if c.is_passed), None),
                               _cost("samples", "more-samples")).model_copy(update={"kind": "oracle"})]
    return scores


def _probe_scores(runs: Sequence[Runs], have: set[str]) -> list[CodeScore]:
    """Each pool chosen again with the council's probes; self-consistency also at the sampled council's budget."""
    scores = []
    pools = (("samples", "sc-exec+probes", "self-consistency, execution-selected with the council's probes"),
             ("council-greedy", "code-exec-greedy+probes", "council (greedy), execution-selected with its probes"),
             ("council-sampled", "code-exec-sampled+probes", "council (sampled), execution-selected with its probes"))
    for pool, key, label in pools:
        if pool in have:
            scores.append(_one_answer(key, label, runs, _probed(pool), _with_probes(_cost(pool))))
    if {"samples", "council-sampled"} <= have and runs:
        k = min(len(r["samples"].candidates) for r in runs)
        per_sample = sum(r["samples"].tokens for r in runs) / max(k, 1)
        if per_sample:
            m = max(1, min(k, round(sum(r["council-sampled"].tokens for r in runs) / per_sample)))
            scores.append(_one_answer("sc-exec@council-sampled+probes", f"self-consistency at council-sampled's budget "
                                      f"(first {m} samples), execution-selected with the council's probes", runs,
                                      _probed("samples", m), _with_probes(_cost("samples", first=m))))
    return scores


def _total(runs: Sequence[Runs], cost: Callable[[Runs], tuple[int, int, float, int, int]]) -> tuple[int, int, float, int, int]:
    parts = [cost(r) for r in runs]
    return (sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts),
            sum(p[3] for p in parts), sum(p[4] for p in parts))


def _mcnemar(method: Sequence[float], single: Sequence[float]) -> str:
    gain = sum(1 for a, b in zip(method, single, strict=True) if a and not b)
    loss = sum(1 for a, b in zip(method, single, strict=True) if b and not a)
    return f"+{gain}/−{loss}, p={mcnemar_p(gain, loss):.3g}"


def _code_against_vote(scores: Sequence[CodeScore]) -> tuple[str, ...]:
    """The `code` strategy (council, execution-selected) against the vote's pick of the same replies."""
    by_key = {s.key: s.per_problem for s in scores}
    pairs = [f"{temp} {_mcnemar(by_key[f'code-exec-{temp}'], by_key[f'vote-{temp}'])}"
             for temp in ("greedy", "sampled") if f"code-exec-{temp}" in by_key and f"vote-{temp}" in by_key]
    if not pairs:
        return ()
    return ("The `code` strategy (a council call on a question that asks for a function, livemind/council/plugins/code.py) "
            "is the 'council, execution-selected' row (tests/council/code/test_pick_matches_eval.py). Against the vote's "
            "pick of the same replies, exact McNemar: " + "; ".join(pairs) + ".",)


def _pool_notes(scores: Sequence[CodeScore]) -> tuple[str, ...]:
    """The pool's status, and the pool against self-consistency at its size (when `more-samples` ran)."""
    by_key = {s.key: s.per_problem for s in scores}
    if "pool-exec" not in by_key:
        return ()
    if "sc-exec@pool" not in by_key:
        return (POOL_NOTE,)
    return (f"{POOL_NOTE} The pool against self-consistency at its size, exact McNemar: "
            f"{_mcnemar(by_key['pool-exec'], by_key['sc-exec@pool'])}.",)


def build_code_report(run: CodeRun, methods: Sequence[str]) -> CodeReport:
    """The report over the problems on which every listed method finished."""
    complete = [(task_id, r) for task_id, r in run.problems.items() if all(m in r for m in methods)]
    runs = [r for _, r in complete]
    scores = score_methods(runs, methods, run.plan.best_expert, plan=run.plan, pilot=run.pilot_greedy)
    seconds = sum(m.seconds for r in runs for m in r.values())
    plan = run.plan
    notes = (
        f"Scored problems: {len(runs)} of the {len(plan.scored_ids)} not held out for the pilot "
        f"({len(plan.pilot_ids)} pilot problems: {', '.join(plan.pilot_ids)}).",
        f"Best single expert: {plan.best_expert} ({plan.expert_reason}). Sampling temperature {plan.temperature} "
        f"({plan.temperature_reason}); every sampled method uses it.",
        f"Council: {', '.join(plan.council)} ({plan.council_reason}).",
        "Selection (self-consistency and council, execution-selected) sees only the docstring's examples, "
        "run in the sandbox; the official tests only score.",
        "Stretches of work: " + "; ".join(f"{p.index}: {p.machine}, code {p.source or 'unrecorded'}, "
                                          f"{p.seconds / 60:.0f} min, {p.units} method runs" for p in run.parts) + ".",
        *((f"Measured council (chosen on the pilot's greedy answers): {', '.join(measured[0])}: {measured[1]}. "
           "To convene it live for questions like these: `[[router.councils]]` (docs/councils.md).",)
          if "personas-greedy" in methods and (measured := measured_council(
              run.pilot_greedy, [s.name for s in plan.pilot if not s.name.startswith("T=")]))[0] else ()),
        *_code_against_vote(scores),
        *_pool_notes(scores),
        f"Reading rule (every method alike): the reply's code block that defines the function, after the "
        f"prompt; a reply cut off inside its code fails and is counted under 'cut off'. Token limit "
        f"{plan.settings.max_tokens}.",
    )
    return CodeReport(task=plan.settings.task, n=len(runs), problems=tuple(t for t, _ in complete),
                      methods=tuple(methods), plan=plan, scores=tuple(scores),
                      selection_rule=RULE, seconds_per_problem=round(seconds / max(len(runs), 1), 1), notes=notes)


def render_code_markdown(report: CodeReport) -> str:
    """report.md: the table a person reads first, then how it was measured."""
    plan = report.plan
    lines = [f"# HumanEval through LiveMind: {report.n} problems", ""]
    lines += [f"- {note}" for note in report.notes]
    lines += [f"- Machine: {plan.machine}; {report.seconds_per_problem} s of generation and checks per problem "
              f"(all methods).", ""]
    lines += ["| method | kind | pass@1 | 95% CI | vs greedy single (McNemar) | gen. tokens | prompt tokens | "
              "seconds | cut off |", "|---|---|---|---|---|---|---|---|---|"]
    for s in report.scores:
        lines.append(f"| {s.label} | {s.kind} | {100 * s.pass_at_1:.1f}% ({s.passed:g}/{s.n}) | "
                     f"{100 * s.ci_low:.1f}–{100 * s.ci_high:.1f} | {s.vs_single or '—'} | {s.generated_tokens:,} | "
                     f"{s.prompt_tokens:,} | {s.seconds:,.0f} | {s.cut_off}/{s.candidates} |")
    lines += ["", f"Selection rule: {report.selection_rule}.", "",
              "Pilot (held out, official tests):", ""]
    for p in plan.pilot:
        mean = f", mean pass@1 {p.mean_pass:.3f}" if p.mean_pass is not None else ""
        lines.append(f"- {p.name}: {p.passed}/{p.n}{mean}, {p.tokens:,} tokens")
    return "\n".join(lines) + "\n"


def write_code_report(report: CodeReport, out: Path, *, plot: bool = True) -> list[Path]:
    """report.md, report.json (and pass_at_1.png) in out."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(render_code_markdown(report), encoding="utf-8")
    (out / "report.json").write_text(report.model_dump_json(indent=1), encoding="utf-8")
    paths = [out / "report.md", out / "report.json"]
    if plot and report.scores:
        paths.append(plot_code_report(report, out / "pass_at_1.png"))
    return paths
