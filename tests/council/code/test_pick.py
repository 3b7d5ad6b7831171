"""The `code` strategy's pick on scripted replies, every candidate run in the real sandbox."""

from __future__ import annotations

from livemind.council.code.pick import Reply, pick_by_execution, stub_of

QUESTION = '''Write a Python function double(x) that returns twice x.

>>> double(2)
4
>>> double(5)
10
'''
RIGHT = "```python\ndef double(x):\n    return 2 * x\n```"
WRONG = "```python\ndef double(x):\n    return x + 2\n```"  # right on double(2) only


def test_the_code_that_passes_the_examples_wins_over_a_more_numerous_wrong_group() -> None:
    found = pick_by_execution(QUESTION, [Reply(expert="a", text=WRONG), Reply(expert="b", text=WRONG),
                                         Reply(expert="c", text=RIGHT)])
    assert found.chosen == 2 and found.entry_point == "double" and found.examples == 2
    assert found.groups[0].members == (2,) and found.groups[0].examples_passed == 2
    assert found.agreement == round(1 / 3, 4)
    assert found.dissent == "on double(5) the chosen code returns 10; a, b's returns 7"


def test_replies_that_cannot_run_get_no_support_and_say_why() -> None:
    cut = "```python\ndef double(x):\n    return 2 *"
    crash = "```python\ndef double(x):\n    raise ValueError('no')\n```"
    hang = "```python\ndef double(x):\n    while True:\n        pass\n```"
    unhashable = "```python\ndef double(x):\n    return [x, x]\n```"
    replies = [Reply(expert="cut", text=cut, finish_reason="length"), Reply(expert="prose", text="Use 2 * x."),
               Reply(expert="crash", text=crash), Reply(expert="hang", text=hang),
               Reply(expert="list", text=unhashable), Reply(expert="right", text=RIGHT)]
    found = pick_by_execution(QUESTION, replies, timeout_s=3.0)
    assert found.chosen == 5
    assert found.failures[0] == "cut off" and found.failures[1] == "no code" and found.failures[5] == ""
    assert {len(g.members) for g in found.groups} == {1}  # crash, hang and list each behave differently


def test_no_runnable_reply_leaves_the_choice_to_the_caller() -> None:
    found = pick_by_execution(QUESTION, [Reply(expert="a", text="Twice x is 2x."),
                                         Reply(expert="b", text="```python\ndef double(x):\n    return (\n```")])
    assert found.chosen is None and "no reply could run" in found.note


def test_a_tie_is_broken_by_confidence_not_by_order() -> None:
    differ = "```python\ndef double(x):\n    return x << 1 if x < 100 else 0\n```"
    question = "Write a Python function double(x) that returns twice x."  # no examples: grouped by code
    for order in ([RIGHT, differ], [differ, RIGHT]):
        replies = [Reply(expert=f"e{i}", text=t, mean_logprob=-0.1 if t == differ else -0.9) for i, t in enumerate(order)]
        found = pick_by_execution(question, replies)
        assert replies[found.chosen].text == differ and "no examples" in found.note  # type: ignore[index]


def test_the_stub_is_the_questions_last_block_and_its_last_function() -> None:
    question = ("Complete the following Python function.\n\n```python\ndef helper(s):\n    return s\n\n"
                "def shout(s: str) -> str:\n    \"\"\"Upper case.\n    >>> shout('a')\n    'A'\n    \"\"\"\n```")
    stub, entry = stub_of(question)
    assert entry == "shout" and "def helper" in stub
    body_only = "```python\n    return helper(s).upper()\n```"
    found = pick_by_execution(question, [Reply(expert="a", text=body_only), Reply(expert="b", text=body_only)])
    assert found.chosen is not None and found.groups[0].examples_passed == 1 and found.agreement == 1.0
