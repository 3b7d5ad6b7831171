"""Council strategies: the pure rules, then vote, select and selective debate through the real graph
over scripted backends (the model seam), so each rule is checked against answers we choose."""

from __future__ import annotations

import math
from itertools import permutations
from pathlib import Path

import numpy as np
import pytest

from livemind.council.strategies import (
    SPLIT,
    WEIGHTED,
    count_votes,
    debate_trigger,
    select_pick,
    tally,
    tally_positions,
    vote_pick,
    weighting_statement,
)
from livemind.engine.backends.base import LoadTarget
from livemind.errors import InvalidRequestError
from livemind.types import GenerationRequest, Position
from tests.support.fakes import ScriptedLoader
from tests.support.minds import EXPERTS, answer_round, is_synthesis, numeric_answers, open_mind, scripted, speaker


def _position(expert: str, text: str, sample: int = 0, mean_logprob: float | None = None) -> Position:
    return Position(expert=expert, label="Expert A", round=0, text=text, tokens=10, prompt_tokens=20, total_s=0.1,
                    sample=sample, mean_logprob=mean_logprob)


def test_tally_counts_extracted_numbers_and_says_whether_the_round_is_checkable() -> None:
    counted = tally(["so \\boxed{12}", "Answer: 12", "the answer is 7"])
    assert counted.values == (12, 12, 7) and counted.winner == 12 and counted.share == pytest.approx(2 / 3)
    assert counted.is_checkable and not counted.is_unanimous
    prose = tally(["I think it depends.", "Answer: 3"])
    assert not prose.is_checkable and prose.winner == 3
    assert prose.is_mostly_numeric, "half the answers state a number: the question asks for one"
    assert not tally(["It depends.", "Mostly yes.", "Answer: 3"]).is_mostly_numeric
    assert not tally([]).is_mostly_numeric


def test_selective_trigger_debates_only_when_the_first_answers_differ() -> None:
    triggered, why = debate_trigger(tally(["Answer: 4", "Answer: 5"]), embedding_agreement=0.99, threshold=0.9)
    assert triggered and why == "first answers differ: 4, 5", "numbers decide, not similar wording"
    triggered, why = debate_trigger(tally(["Answer: 4", "\\boxed{4}"]), embedding_agreement=0.2, threshold=0.9)
    assert not triggered and "every expert answered 4" in why
    triggered, _ = debate_trigger(tally(["yes, mostly", "no"]), embedding_agreement=0.5, threshold=0.9)
    assert triggered
    triggered, why = debate_trigger(tally(["Answer: 12", "Step 3: 49 - 42 ="]), embedding_agreement=0.95,
                                    threshold=0.9)
    assert triggered and why == "first answers differ: 1 of 2 stated no number (12 stated)"
    triggered, _ = debate_trigger(tally(["It depends.", "Mostly yes.", "Answer: 3"]), embedding_agreement=0.95,
                                  threshold=0.9)
    assert not triggered, "a question most answers give no number for is compared by meaning"


def test_vote_picks_the_most_central_answer_among_those_holding_the_majority_number() -> None:
    positions = [_position("a", "Answer: 3"), _position("b", "Answer: 9"), _position("c", "so \\boxed{9}")]
    vectors = np.eye(3, dtype=np.float32)
    pick, counted = vote_pick(positions, vectors)
    assert counted.winner == 9 and pick.expert in ("b", "c")


def test_select_prefers_the_expert_whose_own_samples_agree_most() -> None:
    positions = [_position("a", f"Answer: {v}", i) for i, v in enumerate((5, 6, 7))]
    positions += [_position("b", f"Answer: {v}", i) for i, v in enumerate((8, 8, 3))]
    pick, scores = select_pick(positions, np.eye(6, dtype=np.float32))
    assert pick is not None and pick.expert == "b" and "8" in pick.text
    # a's three samples tie three ways: it has no majority answer of its own (it once had its first sample's 5)
    assert [(c.expert, c.value, c.consistency) for c in scores] == [("a", None, pytest.approx(1 / 3)),
                                                                     ("b", 8, pytest.approx(2 / 3))]


@pytest.mark.parametrize(("values", "winner", "tied"), [
    ((12, 13), None, (12, 13)),  # two experts who disagree: no majority
    ((12, 13, None), None, (12, 13)),  # an answer without a number does not vote
    ((7, 7, 3, 3, 5), None, (3, 7)),
    ((7, 3, 7, None), 7, ()),
    ((None, None), None, ()),
])
def test_a_tie_for_the_most_votes_is_a_split_in_every_order(values: tuple[int | None, ...], winner: int | None,
                                                           tied: tuple[int, ...]) -> None:
    for order in permutations(values):
        counted = count_votes(order)
        assert (counted.winner, counted.tied, counted.is_split) == (winner, tied, bool(tied)), order
        assert counted.share == count_votes(values).share
        assert tally([f"Answer: {v}" if v is not None else "I am not sure." for v in order]).tied == tied


def test_a_split_vote_picks_no_answer_and_a_majority_picks_the_same_one_in_every_order() -> None:
    split = [_position("a", "Answer: 3"), _position("b", "\\boxed{9}"), _position("c", "It depends.")]
    for order in permutations(split):
        pick, counted = vote_pick(list(order), np.eye(3, dtype=np.float32))
        assert pick is None and counted.tied == (3, 9) and counted.winner is None
    majority = [*split[:2], _position("c", "so the answer is 9")]
    for order in permutations(majority):
        pick, counted = vote_pick(list(order), np.eye(3, dtype=np.float32))
        assert pick is not None and pick.expert in ("b", "c") and counted.winner == 9


def test_select_ties_are_splits_and_its_choice_does_not_depend_on_the_experts_order() -> None:
    blocks = {"a": (5, 5), "b": (8, 8), "c": (5, 6)}  # a and b agree with themselves equally, on different answers
    agreeing = {"a": (5, 5), "b": (5, 5), "c": (5, 6)}  # a and b tie on the same answer: no conflict
    for samples, expected in ((blocks, None), (agreeing, 5)):
        for order in permutations(samples):
            positions = [_position(e, f"Answer: {v}", i) for e in order for i, v in enumerate(samples[e])]
            pick, scores = select_pick(positions, np.eye(len(positions), dtype=np.float32))
            assert (None if pick is None else tally([pick.text]).winner) == expected, order
            assert {c.expert: c.value for c in scores} == {"a": 5, "b": samples["b"][0], "c": None}


def test_selective_debate_skips_the_rounds_when_the_first_answers_agree(tmp_path: Path) -> None:
    mind, _ = scripted(tmp_path, numeric_answers({"alpha": 4, "beta": 4, "gamma": 4}))
    result = mind.debate("What is 2+2?", experts=list(EXPERTS), rounds=2, mode="parallel")
    assert result.strategy == "debate" and result.debate_triggered is False
    assert result.rounds == 0 and "every expert answered 4" in result.trigger_reason
    assert result.first_vote == 4 and result.answer_value == 99, "the synthesis still writes the answer"
    forced = mind.debate("What is 2+2?", experts=list(EXPERTS), rounds=2, mode="parallel", selective=False)
    assert forced.debate_triggered is True and forced.rounds >= 1
    assert forced.tokens > result.tokens


def test_selective_debate_runs_the_rounds_when_the_numbers_differ(tmp_path: Path) -> None:
    mind, _ = scripted(tmp_path, numeric_answers({"alpha": 4, "beta": 5, "gamma": 4}))
    result = mind.debate("What is 2+2?", experts=list(EXPERTS), rounds=1, mode="parallel")
    assert result.debate_triggered is True and result.trigger_reason == "first answers differ: 4, 5"
    assert result.rounds == 1 and result.history[0].answers == (4, 5, 4)
    assert result.history[0].agreement == pytest.approx(2 / 3, abs=1e-4), "checkable agreement is the share on the winner"


def test_vote_answers_from_the_first_round_without_a_synthesis_call(tmp_path: Path) -> None:
    requests: list[GenerationRequest] = []
    script = numeric_answers({"alpha": 3, "beta": 8, "gamma": 8})

    def recording(target: LoadTarget, request: GenerationRequest) -> str:
        requests.append(request)
        return script(target, request)

    mind, _ = scripted(tmp_path, recording)
    result = mind.debate("What is 2*4?", experts=list(EXPERTS), mode="parallel", strategy="vote")
    assert result.strategy == "vote" and result.answer_value == 8 == result.first_vote
    assert result.synthesizer in ("vote: beta", "vote: gamma") and result.rounds == 0
    assert not any(is_synthesis(r) for r in requests) and len(requests) == 3


def test_a_two_expert_vote_that_splits_says_so_and_answers_no_number_in_either_order(tmp_path: Path) -> None:
    mind, _ = scripted(tmp_path, numeric_answers({"alpha": 3, "beta": 8, "gamma": 8}))
    results = [mind.debate("What is 2*4?", experts=order, mode="parallel", strategy="vote")
               for order in (["alpha", "beta"], ["beta", "alpha"])]
    for result in results:
        assert result.synthesizer == f"vote: {SPLIT}" and result.answer_value is None and result.first_vote is None
        assert result.answer.startswith("No majority") and "alpha: 3; beta: 8" in result.answer
    assert results[0].answer == results[1].answer, "the listed order changes nothing"


@pytest.mark.parametrize("mode", ["parallel", "turns"])
def test_select_samples_each_expert_and_keeps_the_most_self_consistent(tmp_path: Path, mode: str) -> None:
    seen: list[tuple[str, int | None, float]] = []

    def script(target: LoadTarget, request: GenerationRequest) -> str:
        who, seed = speaker(request), request.sampling.seed
        seen.append((who, seed, request.sampling.temperature))
        assert answer_round(request) == 0 and "Other experts" not in request.messages[-1].content, "samples are independent"
        nth = sum(1 for w, _, _ in seen if w == who)  # alpha always says 6; beta and gamma never repeat
        return f"Answer: {6 if who == 'alpha' else 10 * nth + len(who)}"

    mind, _ = scripted(tmp_path, script)
    result = mind.debate("What is 2*3?", experts=list(EXPERTS), mode=mode, strategy="select", samples=3, seed=5)
    assert len(seen) == 9 and len({s for _, s, _ in seen}) == 9, "every sample has its own seed"
    assert min(t for _, _, t in seen) >= 0.7, "samples are drawn hot enough to differ"
    assert result.strategy == "select" and result.synthesizer == "select: alpha" and result.answer_value == 6
    assert {c.expert: c.consistency for c in result.consistency} == {"alpha": 1.0, "beta": pytest.approx(1 / 3),
                                                                     "gamma": pytest.approx(1 / 3)}
    assert len(result.positions) == 9


def test_an_unknown_strategy_or_too_many_samples_is_refused_with_the_choices(tmp_path: Path) -> None:
    mind, _ = scripted(tmp_path, numeric_answers({"alpha": 1, "beta": 1, "gamma": 1}))
    with pytest.raises(InvalidRequestError) as caught:
        mind.debate("q", strategy="shout")  # type: ignore[arg-type]
    assert "debate, vote, select" in (caught.value.hint or "")
    with pytest.raises(InvalidRequestError):
        mind.debate("q", strategy="select", samples=99)


def test_synthesis_asks_for_an_answer_line_when_at_least_half_the_positions_give_a_number(tmp_path: Path) -> None:
    prompts: list[str] = []
    answers = {"prose": {"alpha": "It depends on the use.", "beta": "Mostly yes.", "gamma": "Answer: 3"},
               "numbers": {"alpha": "Answer: 4", "beta": "Let me work it out: 2 + 2 is", "gamma": "Answer: 4"}}
    kind = "prose"

    def script(target: LoadTarget, request: GenerationRequest) -> str:
        if is_synthesis(request):
            prompts.append(request.messages[-1].content)
            return "Verdict: fine"
        return answers[kind][speaker(request)]

    mind, _ = scripted(tmp_path, script)
    mind.debate("Is it good?", experts=list(EXPERTS), rounds=0, mode="parallel")
    kind = "numbers"
    mind.debate("What is 2+2?", experts=list(EXPERTS), rounds=0, mode="parallel")
    prose, numbers = prompts
    assert "Verdict:" in prose and "Answer:" not in prose.split("Write the council's answer")[1]
    assert "Answer: <the number" in numbers


# -- confidence-weighted votes ------------------------------------------------------------------

SURE, UNSURE = math.log(0.9), math.log(0.2)  # mean token log-probs: weights 0.9 and 0.2


def test_one_confident_answer_outweighs_two_unsure_ones_where_a_count_would_not() -> None:
    values, confidences = (7, 3, 3), (SURE, UNSURE, UNSURE)
    weighted = count_votes(values, confidences)
    assert weighted.is_weighted and weighted.winner == 7
    assert weighted.weights == pytest.approx((0.9, 0.2, 0.2))
    assert weighted.share == pytest.approx(0.9 / 1.3), "agreement is the winner's share of the weight"
    counted = count_votes(values)
    assert not counted.is_weighted and counted.winner == 3 and counted.share == pytest.approx(2 / 3)
    positions = [_position(e, f"Answer: {v}", mean_logprob=c) for e, v, c in zip("abc", values, confidences, strict=True)]
    pick, by_vote = vote_pick(positions, np.eye(3, dtype=np.float32))
    assert pick is not None and pick.expert == "a" and by_vote.winner == 7
    assert weighting_statement(positions) == WEIGHTED


def test_an_answer_without_a_number_weighs_in_the_whole_but_backs_nothing() -> None:
    counted = tally(["Answer: 5", "I cannot tell.", "Answer: 6"], [math.log(0.6), math.log(0.5), math.log(0.3)])
    assert counted.winner == 5 and not counted.is_checkable
    assert counted.share == pytest.approx(0.6 / 1.4)


def test_permuting_weighted_answers_never_changes_the_winner_the_split_or_the_share() -> None:
    cases = [((4, 9, 9, 4, None), (-0.1, -0.9, -1.2, -2.5, -0.3)),  # 4 by weight (1.0), 9 by neither count nor order
             ((2, 5, 5), (-0.05, -1.0, -1.0)),
             ((1, 2), (-0.4, -0.4))]  # a split in every order
    for values, confidences in cases:
        reference = count_votes(values, confidences)
        for order in permutations(range(len(values))):
            counted = count_votes([values[i] for i in order], [confidences[i] for i in order])
            assert (counted.winner, counted.tied, counted.share) == (reference.winner, reference.tied, reference.share), order
    assert count_votes(*cases[0]).winner == 4 and count_votes(*cases[1]).winner == 2


def test_equal_weights_on_different_numbers_are_a_split_even_when_rounding_differs() -> None:
    even = count_votes((12, 13), (-0.3, -0.3))
    assert even.is_split and even.winner is None and even.tied == (12, 13)
    # 0.1 + 0.1 against 0.2: equal weight, but exp(log(x)) and the sum round differently
    rounded = count_votes((12, 12, 13), (math.log(0.1), math.log(0.1), math.log(0.2)))
    assert math.exp(math.log(0.1)) * 2 != math.exp(math.log(0.2)), "the two totals differ in the last bits"
    assert rounded.is_split and rounded.tied == (12, 13)
    positions = [_position("a", "Answer: 12", mean_logprob=-0.3), _position("b", "Answer: 13", mean_logprob=-0.3)]
    for order in permutations(positions):
        pick, counted = vote_pick(list(order), np.eye(2, dtype=np.float32))
        assert pick is None and counted.is_split


def test_a_missing_confidence_falls_back_to_counting_and_says_whose_is_missing() -> None:
    positions = [_position("a", "Answer: 7", mean_logprob=SURE), _position("remote", "Answer: 3"),
                 _position("c", "Answer: 3", mean_logprob=UNSURE)]
    counted = tally_positions(positions)
    assert not counted.is_weighted and counted.winner == 3 and counted.share == pytest.approx(2 / 3)
    assert weighting_statement(positions).startswith("counted, not weighted")
    assert "remote" in weighting_statement(positions) and "a," not in weighting_statement(positions)
    assert not count_votes((7, 3), (SURE, math.nan)).is_weighted, "a confidence that is not a number is missing"


def test_select_weighs_each_experts_samples_by_confidence_when_every_sample_has_one() -> None:
    samples = {"a": ((5, UNSURE), (5, UNSURE), (6, math.log(0.95))), "b": ((8, -0.5), (8, -0.5), (9, -0.5))}
    positions = [_position(e, f"Answer: {v}", i, c) for e in samples for i, (v, c) in enumerate(samples[e])]
    pick, scores = select_pick(positions, np.eye(6, dtype=np.float32))
    assert pick is not None and pick.expert == "a" and tally([pick.text]).winner == 6
    assert {c.expert: (c.value, round(c.consistency, 3)) for c in scores} == {"a": (6, round(0.95 / 1.35, 3)),
                                                                             "b": (8, round(2 / 3, 3))}
    counted = [p.model_copy(update={"mean_logprob": None}) if p.expert == "b" and p.sample == 2 else p
               for p in positions]
    pick, scores = select_pick(counted, np.eye(6, dtype=np.float32))
    assert pick is None, "one sample without a confidence: every sample counts 1, and a and b tie at 2/3"


def _confidence(sure: str, *, silent: str = "") -> object:
    """Scripted engine confidence: `sure` answers confidently, `silent` reports none, the rest are unsure."""
    def confidence(target: LoadTarget, request: GenerationRequest) -> float | None:
        who = speaker(request)
        return None if who == silent else SURE if who == sure else UNSURE
    return confidence


def test_a_council_vote_weighs_each_answer_by_its_engines_confidence_and_keeps_a_counted_control(
        tmp_path: Path) -> None:
    mind, loader = scripted(tmp_path, numeric_answers({"alpha": 3, "beta": 8, "gamma": 8}))
    loader.confidence = _confidence("alpha")  # type: ignore[assignment]
    result = mind.debate("What is 2*4?", experts=list(EXPERTS), mode="parallel", strategy="vote")
    assert result.answer_value == 3 and result.synthesizer == "vote: alpha"
    assert result.first_vote == 8, "the control is a plain count of the same first answers"
    assert result.vote_weighting == WEIGHTED and result.history[0].is_weighted
    assert result.agreement == pytest.approx(0.9 / 1.3, abs=1e-4)
    assert {p.expert: p.mean_logprob for p in result.positions} == {"alpha": pytest.approx(SURE),
                                                                    "beta": pytest.approx(UNSURE),
                                                                    "gamma": pytest.approx(UNSURE)}


def test_a_council_vote_with_an_expert_lacking_confidence_counts_and_says_so(tmp_path: Path) -> None:
    mind, loader = scripted(tmp_path, numeric_answers({"alpha": 3, "beta": 8, "gamma": 8}))
    loader.confidence = _confidence("alpha", silent="gamma")  # type: ignore[assignment]
    result = mind.debate("What is 2*4?", experts=list(EXPERTS), mode="parallel", strategy="vote")
    assert result.answer_value == 8 == result.first_vote and not result.history[0].is_weighted
    assert result.vote_weighting.startswith("counted, not weighted") and "gamma" in result.vote_weighting
    assert result.agreement == pytest.approx(2 / 3, abs=1e-4)


def test_a_select_tie_goes_to_the_expert_measured_most_accurate_and_stays_a_split_without_measurements() -> None:
    blocks = {"a": (5, 5), "b": (8, 8), "c": (5, 6)}  # a and b are equally self-consistent, on different answers
    positions = [_position(e, f"Answer: {v}", i) for e in blocks for i, v in enumerate(blocks[e])]
    vectors = np.eye(len(positions), dtype=np.float32)
    for accuracy, expected in (({"a": 0.6, "b": 0.9}, 8), ({"a": 0.9, "b": 0.6, "c": 1.0}, 5),
                               ({"a": 0.7, "b": 0.7}, None), ({"a": 0.9}, None), (None, None)):
        pick, _ = select_pick(positions, vectors, accuracy)
        assert (None if pick is None else tally([pick.text]).winner) == expected, accuracy


def test_a_council_select_breaks_its_tie_by_the_configured_accuracy_and_says_so(tmp_path: Path) -> None:
    def script(target: LoadTarget, request: GenerationRequest) -> str:
        return f"Working.\nAnswer: {({'alpha': 4, 'beta': 9, 'gamma': 4})[speaker(request)]}"

    mind = scripted(tmp_path, script)[0]
    mind.close()
    measured = {"alpha": 0.5, "beta": 0.8}
    config = mind.config.model_copy(update={"experts": tuple(
        e.model_copy(update={"accuracy": measured.get(e.name)}) for e in mind.config.experts)})
    measured_mind = open_mind(tmp_path, config, ScriptedLoader(script))
    try:
        result = measured_mind.consensus("What is 2+2?", experts=["alpha", "beta"], strategy="select", samples=2)
        assert result.answer_value == 9 and result.synthesizer == "select: beta (a tie, broken by measured accuracy)"
        split = measured_mind.consensus("What is 2+2?", experts=["alpha", "gamma"], strategy="select", samples=2)
        assert split.answer_value == 4, "no conflict: both say 4"
    finally:
        measured_mind.close()
