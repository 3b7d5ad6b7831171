"""Code consensus on scripted candidates, run in the real sandbox: grouping, support, dissent, failures."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence

import pytest

from livemind.council.code import CodeCouncil, code_question, find_entry_point
from livemind.errors import InvalidRequestError
from livemind.types import Answer

TASK = "Write double(x) that returns twice x.\n    double(2) == 4\n    double(3) == 6"
RIGHT = "```python\ndef double(x):\n    return 2 * x\n```"
RIGHT_TOO = "```python\ndef double(x):\n    return x + x\n```"
WRONG = "```python\ndef double(x):\n    return x + 2\n```"  # right on double(2), wrong on double(3)


def scripted(replies: dict[str, str], *, cut: Sequence[str] = ()) -> CodeCouncil:
    def ask(question: str, expert: str, temperature: float, seed: int | None, max_tokens: int) -> Answer:
        assert "no explanation" in question
        return Answer(answer=replies[expert], expert=expert, model="scripted", tokens=len(replies[expert]) // 4,
                      prompt_tokens=10, ttft_s=0.0, total_s=0.0, tok_s=0.0,
                      finish_reason="length" if expert in cut else "stop")
    return CodeCouncil(ask, timeout_s=3.0)


def test_the_group_passing_every_example_wins_and_the_dissent_is_the_input_that_separates_them() -> None:
    result = scripted({"a": WRONG, "b": RIGHT, "c": RIGHT_TOO}).run(TASK, ["a", "b", "c"])
    assert result.entry_point == "double" and len(result.examples) == 2
    assert "2 * x" in result.answer or "x + x" in result.answer
    assert result.agreement == pytest.approx(2 / 3, abs=1e-3)
    assert [g.size for g in result.groups] == [2, 1] and result.groups[0].examples_passed == 2
    assert result.dissent is not None and result.dissent.call == "double(3)"
    assert (result.dissent.chosen_output, result.dissent.other_output) == ("6", "5")
    assert result.dissent.other_experts == ("a",)
    assert [c.group for c in result.candidates] == [1, 0, 0]


def test_the_choice_does_not_depend_on_the_order_experts_are_listed_in() -> None:
    replies = {"a": WRONG, "b": RIGHT, "c": RIGHT_TOO}
    answers = {scripted(replies).run(TASK, list(order)).answer for order in itertools.permutations("abc")}
    assert len(answers) == 1


def test_crashing_hanging_printing_and_unhashable_candidates_are_judged_not_fatal() -> None:
    replies = {
        "crash": "```python\ndef double(x):\n    raise ValueError('no')\n```",
        "hang": "```python\ndef double(x):\n    while True:\n        pass\n```",
        "noisy": "```python\ndef double(x):\n    print('x' * 10_000)\n    return 2 * x\n```",
        "listy": "```python\ndef double(x):\n    return [x, x]\n```",
    }
    result = scripted(replies).run(TASK, list(replies))
    by_expert = {c.expert: c for c in result.candidates}
    assert by_expert["noisy"].examples_passed == 2 and result.chosen_expert == "noisy"
    assert by_expert["crash"].examples_passed == 0 and by_expert["hang"].examples_passed == 0
    outputs = {g.experts: g.outputs for g in result.groups}
    assert outputs[("crash",)] == ("raises ValueError", "raises ValueError")
    assert outputs[("listy",)] == ("[2, 2]", "[3, 3]")
    assert outputs[("hang",)][0].startswith("run ")  # the whole run timed out


def test_a_candidate_cut_off_inside_its_code_is_marked_and_never_run() -> None:
    cut = "```python\ndef double(x):\n    return 2 *"
    result = scripted({"a": cut, "b": WRONG}, cut=["a"]).run(TASK, ["a", "b"])
    a = next(c for c in result.candidates if c.expert == "a")
    assert a.is_cut_off and a.failure == "cut off" and a.group is None
    assert result.chosen_expert == "b"


def test_the_callers_tests_are_examples_too_and_a_task_without_any_says_so() -> None:
    council = scripted({"a": RIGHT, "b": WRONG})
    result = council.run("Write double(x).", ["a", "b"], tests="assert double(5) == 10\nassert double(0) == 0")
    assert [e.call for e in result.examples] == ["double(5)", "double(0)"] and result.chosen_expert == "a"
    bare = council.run("Write double(x).", ["a", "b"])
    assert bare.examples == () and "no examples" in bare.note


def test_a_task_no_candidate_answers_with_a_function_is_refused_with_what_to_do() -> None:
    with pytest.raises(InvalidRequestError, match="signature"):
        scripted({"a": "I cannot help with that."}).run("Do something.", ["a"])


def test_the_question_asks_for_the_code_first_and_keeps_the_signature() -> None:
    question = code_question("Convert a roman numeral.", "def roman_to_int(s: str) -> int:", "roman_to_int")
    assert "def roman_to_int(s: str) -> int:" in question and "no explanation" in question
    assert find_entry_point("def roman_to_int(s: str) -> int:") == "roman_to_int"
    assert find_entry_point("no function here") is None


def test_a_stub_with_helpers_and_examples_is_completed_and_checked_like_the_eval_does() -> None:
    stub = ('def is_even(n: int) -> bool:\n    return n % 2 == 0\n\n\ndef evens(xs: list) -> list:\n'
            '    """Keep the even numbers.\n    >>> evens([1, 2, 4])\n    [2, 4]\n    """\n')
    uses_helper = "```python\ndef evens(xs: list) -> list:\n    return [x for x in xs if is_even(x)]\n```"
    body_only = "```python\n    return [x for x in xs if x % 2 == 0]\n```"
    result = scripted({"a": uses_helper, "b": body_only}).run("Complete the following Python function.", ["a", "b"],
                                                              signature=stub)
    assert result.entry_point == "evens" and [e.call for e in result.examples] == ["evens([1, 2, 4])"]
    assert [g.size for g in result.groups] == [2] and result.groups[0].examples_passed == 1
    assert code_question("Complete the following Python function.", stub).endswith(f"```python\n{stub}```")


def test_a_written_candidate_runs_in_the_sandbox_while_the_others_are_still_being_written(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from livemind.council.code import consensus

    ran = threading.Event()
    real = consensus.gather_evidence

    def gather(*args: object, **kwargs: object) -> object:
        evidence = real(*args, **kwargs)  # type: ignore[arg-type]
        ran.set()
        return evidence

    monkeypatch.setattr(consensus, "gather_evidence", gather)
    seen_before_writing: list[bool] = []

    def ask(question: str, expert: str, temperature: float, seed: int | None, max_tokens: int) -> Answer:
        if expert == "slow":  # still "decoding" until the fast candidate has been run (or 20 s pass)
            seen_before_writing.append(ran.wait(timeout=20.0))
        reply = RIGHT if expert == "fast" else RIGHT_TOO
        return Answer(answer=reply, expert=expert, model="scripted", tokens=8, prompt_tokens=10, ttft_s=0.0,
                      total_s=0.0, tok_s=0.0, finish_reason="stop")

    result = CodeCouncil(ask, timeout_s=3.0).run(TASK, ["fast", "slow"], signature="def double(x):")
    assert seen_before_writing == [True], "the fast candidate was not run while the slow one was being written"
    assert result.checked_while_decoding == 1 and result.agreement == 1.0
    with_probes_unknown_name = scripted({"a": RIGHT, "b": RIGHT_TOO}).run(
        "Write a function that returns twice its argument.", ["a", "b"])
    assert with_probes_unknown_name.checked_while_decoding == 0, "no name before the candidates: they run after"


def test_the_lead_adds_sampled_candidates_that_can_outvote_the_greedy_personas() -> None:
    asked: list[tuple[str, float, int | None]] = []
    lock = threading.Lock()

    def ask(question: str, expert: str, temperature: float, seed: int | None, max_tokens: int) -> Answer:
        with lock:
            asked.append((expert, temperature, seed))
        text = RIGHT if (expert == "lead" and temperature > 0) else WRONG if expert == "other" else RIGHT_TOO
        return Answer(answer=text, expert=expert, model="scripted", tokens=10, prompt_tokens=10, ttft_s=0.0,
                      total_s=0.0, tok_s=0.0, finish_reason="stop")

    result = CodeCouncil(ask, timeout_s=3.0).run(TASK, ["lead", "other"], seed=7, lead_samples=3, lead_temperature=0.8)
    assert sorted(asked) == sorted([("lead", 0.0, 7), ("other", 0.0, 7), ("lead", 0.8, 8), ("lead", 0.8, 9), ("lead", 0.8, 10)])
    assert [(c.expert, c.sample) for c in result.candidates] == [("lead", 0), ("other", 0), ("lead", 1), ("lead", 2), ("lead", 3)]
    assert result.groups[0].size == 4 and result.agreement == pytest.approx(4 / 5, abs=1e-3)  # 1 greedy + 3 sampled doublers


@pytest.mark.parametrize("lead_samples", [-1, 17])
def test_a_lead_sample_count_out_of_range_is_refused_with_what_to_do(lead_samples: int) -> None:
    with pytest.raises(InvalidRequestError, match="lead_samples must be between 0 and 16") as caught:
        scripted({"a": RIGHT}).run(TASK, ["a"], lead_samples=lead_samples)
    assert "first expert" in (caught.value.hint or "")
