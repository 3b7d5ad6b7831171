"""One reading rule for every reply: the code block, after the prompt, definitions only, cut-offs marked."""

from __future__ import annotations

from livemind.council.code.programs import read_program

PROMPT = ('from typing import List\n\n\ndef total(xs: List[int]) -> int:\n'
          '    """Sum of xs.\n    >>> total([1, 2])\n    3\n    """\n')


def test_a_block_that_defines_the_function_is_kept_after_the_prompt() -> None:
    reply = "Here it is:\n```python\ndef total(xs):\n    return sum(xs)\n```\nIt sums the list."
    program = read_program(PROMPT, "total", reply, is_cut_off=False)
    assert program.code is not None and "return sum(xs)" in program.code
    assert "from typing import List" in program.code  # the prompt's imports stay defined
    assert not program.is_cut_off and program.failure is None


def test_the_replys_own_demo_is_not_part_of_the_candidate() -> None:
    reply = ("```python\ndef total(xs):\n    return sum(xs)\n\nprint(total([1]))\nassert total([]) == 1\n"
             "if __name__ == '__main__':\n    raise SystemExit(3)\n```")
    code = read_program(PROMPT, "total", reply, is_cut_off=False).code
    assert code is not None
    assert "print(" not in code and "assert" not in code and "__main__" not in code


def test_a_body_alone_completes_the_prompts_function() -> None:
    reply = "```python\n    return sum(xs)\n```"
    code = read_program(PROMPT, "total", reply, is_cut_off=False).code
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code, "<candidate>", "exec"), namespace)  # trusted: written by this test
    assert namespace["total"]([1, 2, 3]) == 6  # type: ignore[operator]


def test_a_reply_cut_off_inside_its_code_is_never_run_as_whole() -> None:
    reply = "```python\ndef total(xs):\n    result = 0\n    for x in xs:\n"
    program = read_program(PROMPT, "total", reply, is_cut_off=True)
    assert program.code is None and program.is_cut_off and program.failure == "cut off"


def test_a_reply_cut_off_after_its_code_closed_keeps_its_code() -> None:
    reply = "```python\ndef total(xs):\n    return sum(xs)\n```\nThis works because the built-in sum adds"
    program = read_program(PROMPT, "total", reply, is_cut_off=True)
    assert program.code is not None and not program.is_cut_off


def test_a_reply_without_code_has_no_candidate() -> None:
    program = read_program(PROMPT, "total", "You should add the numbers together.", is_cut_off=False)
    assert program.code is None and program.failure == "no code"


def test_a_block_with_a_syntax_error_says_so() -> None:
    program = read_program(PROMPT, "total", "```python\ndef total(xs) return 1\n```", is_cut_off=False)
    assert program.code is None and program.failure is not None and program.failure.startswith("syntax error")


def test_a_reply_that_ended_without_closing_its_block_keeps_its_code() -> None:
    reply = "```python\ndef total(xs):\n    return sum(xs)\n\n# Conclusion: it sums."
    program = read_program(PROMPT, "total", reply, is_cut_off=False)
    assert program.code is not None and "return sum(xs)" in program.code and not program.is_cut_off
