"""The MCP `code` tool's work: code consensus off the event loop, inside the server's admission when there is one."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent

from livemind.council.code import CodeResult
from livemind.orchestrator import LiveMind
from livemind.server.admitted import Admitted, AdmittedRun


def code_text(result: CodeResult) -> str:
    """The chosen code and its evidence, as an agent reads it in plain text."""
    lines = [f"```python\n{result.answer}\n```" if result.answer else "(no candidate could run)", "",
             f"agreement {result.agreement:.2f} · {len(result.candidates)} candidates · {len(result.groups)} "
             f"behaviour groups · {len(result.examples)} examples · {len(result.probes)} probes · {result.tokens} tokens "
             f"· {result.total_s:.1f} s"]
    lines += [f"- group of {g.size} ({', '.join(g.experts)}): passes {g.examples_passed}/{len(result.examples)} "
              f"examples" for g in result.groups]
    if result.dissent:
        d = result.dissent
        lines.append(f"dissent: {d.call} → {d.chosen_output} (chosen) vs {d.other_output} ({', '.join(d.other_experts)})")
    if result.note:
        lines.append(f"note: {result.note}")
    return "\n".join(lines)


async def run_code_tool(mind: LiveMind, ctx: Context, admitted: Admitted, *, task: str, signature: str | None,
                        tests: str | None, experts: Sequence[str] | None, samples: int,
                        probes: int = 0, lead_samples: int = 0) -> CallToolResult:
    """Run code consensus in a worker thread, reporting progress before and after."""
    await ctx.report_progress(0, 2, "experts are writing candidates")

    def work() -> CodeResult:
        with AdmittedRun(admitted) as run:
            run.wait()
            result = mind.code(task, signature=signature, tests=tests, experts=experts, samples=samples, probes=probes,
                               lead_samples=lead_samples)
            run.succeed()
        return result

    try:
        result = await anyio.to_thread.run_sync(work)
    finally:
        admitted.leave()  # a no-op once finished
    await ctx.report_progress(2, 2, f"chosen with agreement {result.agreement:.2f}")
    return CallToolResult(content=[TextContent(type="text", text=code_text(result))],
                          structured_content=result.model_dump(mode="json"))
