"""Council strategies: the pure rules, then vote, select and selective debate through the real graph
over scripted backends (the model seam), so each rule is checked against answers we choose."""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

import numpy as np
import pytest

from livemind.council.strategies import SPLIT, count_votes, debate_trigger, select_pick, tally, vote_pick
from livemind.engine.backends.base import LoadTarget
from livemind.errors import InvalidRequestError
from livemind.types import GenerationRequest, Position
from tests.test_graph import EXPERTS, _is_synthesis, _mind, _round, _who


def _position(expert: str, text: str, sample: int = 0) -> Position:
    return Position(expert=expert, label="Expert A", round=0, text=text, tokens=10, prompt_tokens=20, total_s=0.1,
                    sample=sample)


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


def _numbers(answers: dict[str, int]) -> object:
    def script(target: LoadTarget, request: GenerationRequest) -> str:
        if _is_synthesis(request):
            return "After checking, the council agrees.\nAnswer: 99"
        return f"Working it out.\nAnswer: {answers[_who(request)]}"
    return script


def test_selective_debate_skips_the_rounds_when_the_first_answers_agree(tmp_path: Path) -> None:
    mind, _ = _mind(tmp_path, _numbers({"alpha": 4, "beta": 4, "gamma": 4}))
    result = mind.debate("What is 2+2?", experts=list(EXPERTS), rounds=2, mode="parallel")
    assert result.strategy == "debate" and result.debate_triggered is False
    assert result.rounds == 0 and "every expert answered 4" in result.trigger_reason
    assert result.first_vote == 4 and result.answer_value == 99, "the synthesis still writes the answer"
    forced = mind.debate("What is 2+2?", experts=list(EXPERTS), rounds=2, mode="parallel", selective=False)
    assert forced.debate_triggered is True and forced.rounds >= 1
    assert forced.tokens > result.tokens


def test_selective_debate_runs_the_rounds_when_the_numbers_differ(tmp_path: Path) -> None:
    mind, _ = _mind(tmp_path, _numbers({"alpha": 4, "beta": 5, "gamma": 4}))
    result = mind.debate("What is 2+2?", experts=list(EXPERTS), rounds=1, mode="parallel")
    assert result.debate_triggered is True and result.trigger_reason == "first answers differ: 4, 5"
    assert result.rounds == 1 and result.history[0].answers == (4, 5, 4)
    assert result.history[0].agreement == pytest.approx(2 / 3, abs=1e-4), "checkable agreement is the share on the winner"


def test_vote_answers_from_the_first_round_without_a_synthesis_call(tmp_path: Path) -> None:
    requests: list[GenerationRequest] = []
    script = _numbers({"alpha": 3, "beta": 8, "gamma": 8})

    def recording(target: LoadTarget, request: GenerationRequest) -> str:
        requests.append(request)
        return script(target, request)

    mind, _ = _mind(tmp_path, recording)
    result = mind.debate("What is 2*4?", experts=list(EXPERTS), mode="parallel", strategy="vote")
    assert result.strategy == "vote" and result.answer_value == 8 == result.first_vote
    assert result.synthesizer in ("vote: beta", "vote: gamma") and result.rounds == 0
    assert not any(_is_synthesis(r) for r in requests) and len(requests) == 3


def test_a_two_expert_vote_that_splits_says_so_and_answers_no_number_in_either_order(tmp_path: Path) -> None:
    mind, _ = _mind(tmp_path, _numbers({"alpha": 3, "beta": 8, "gamma": 8}))
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
        who, seed = _who(request), request.sampling.seed
        seen.append((who, seed, request.sampling.temperature))
        assert _round(request) == 0 and "Other experts" not in request.messages[-1].content, "samples are independent"
        nth = sum(1 for w, _, _ in seen if w == who)  # alpha always says 6; beta and gamma never repeat
        return f"Answer: {6 if who == 'alpha' else 10 * nth + len(who)}"

    mind, _ = _mind(tmp_path, script)
    result = mind.debate("What is 2*3?", experts=list(EXPERTS), mode=mode, strategy="select", samples=3, seed=5)
    assert len(seen) == 9 and len({s for _, s, _ in seen}) == 9, "every sample has its own seed"
    assert min(t for _, _, t in seen) >= 0.7, "samples are drawn hot enough to differ"
    assert result.strategy == "select" and result.synthesizer == "select: alpha" and result.answer_value == 6
    assert {c.expert: c.consistency for c in result.consistency} == {"alpha": 1.0, "beta": pytest.approx(1 / 3),
                                                                     "gamma": pytest.approx(1 / 3)}
    assert len(result.positions) == 9


def test_an_unknown_strategy_or_too_many_samples_is_refused_with_the_choices(tmp_path: Path) -> None:
    mind, _ = _mind(tmp_path, _numbers({"alpha": 1, "beta": 1, "gamma": 1}))
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
        if _is_synthesis(request):
            prompts.append(request.messages[-1].content)
            return "Verdict: fine"
        return answers[kind][_who(request)]

    mind, _ = _mind(tmp_path, script)
    mind.debate("Is it good?", experts=list(EXPERTS), rounds=0, mode="parallel")
    kind = "numbers"
    mind.debate("What is 2+2?", experts=list(EXPERTS), rounds=0, mode="parallel")
    prose, numbers = prompts
    assert "Verdict:" in prose and "Answer:" not in prose.split("Write the council's answer")[1]
    assert "Answer: <the number" in numbers
