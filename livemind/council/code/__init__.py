"""Code consensus: experts write candidate functions, the sandbox runs them, and what they *do* decides.

    task (+ signature, + the caller's tests) → each expert writes a candidate (code first, whole function)
      → programs (the code read from each reply; cut-off code marked, never run)
      → evidence (every candidate run in the sandbox on the stated examples)
      → selection (most examples passed, then the largest group that behaves alike; ties never by list order)
      → CodeResult: the chosen code, the groups, agreement, and dissent as a distinguishing input
"""

from livemind.council.code.consensus import CODE_MAX_TOKENS, CodeCouncil, code_question, find_entry_point
from livemind.council.code.examples import Example, docstring_examples
from livemind.council.code.results import CodeCandidateView, CodeGroupView, CodeResult, DistinguishingInput

__all__ = ["CODE_MAX_TOKENS", "CodeCandidateView", "CodeCouncil", "CodeGroupView", "CodeResult", "DistinguishingInput", "Example",
           "code_question", "docstring_examples", "find_entry_point"]
