"""MCP resources (the expert catalog, session transcripts) and the prompts agents can surface."""

from __future__ import annotations

from typing import Annotated

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from pydantic import Field

from livemind.council.sessions import SessionRecord, render_markdown
from livemind.errors import SessionError
from livemind.mcp.results import SESSION_URI, expert_list
from livemind.mcp.tools import MindRef

EXPERTS_URI = "livemind://experts"
LONG_INPUT_CHARS = 2000


def register_resources(server: MCPServer, ref: MindRef) -> None:
    """The expert catalog and one transcript per session."""

    @server.resource(EXPERTS_URI, name="experts", mime_type="application/json",
                     description="The experts: names, models, what each knows, whether loaded.")
    async def experts() -> str:
        mind = ref.now()
        listing = await anyio.to_thread.run_sync(expert_list, mind)
        return listing.model_dump_json(indent=2)

    @server.resource(SESSION_URI, name="session", mime_type="text/markdown",
                     description="Transcript of a consensus or debate: routing, rounds, answer, dissent.")
    async def session(session_id: str) -> str:
        mind = ref.now()
        try:
            record = await anyio.to_thread.run_sync(mind.session, session_id)
        except SessionError as exc:
            raise ResourceNotFoundError(f"{exc.message}; session ids come back from consensus and debate") from exc
        return transcript(record)


def transcript(record: SessionRecord) -> str:
    """The Markdown transcript of a finished session, or its state while it has no result."""
    if record.result is not None:
        return render_markdown(record.result)
    return (f"# LiveMind session {record.session_id}\n\n**Question:** {record.question}\n\n"
            f"**Status:** {record.status} (no result yet)\n")


def register_prompts(server: MCPServer) -> None:
    """Two prompts: a second opinion on a diff, and a check of a claim before relying on it."""

    @server.prompt(name="second_opinion", title="Second opinion on this diff",
                   description="Local experts review a diff; you compare their review with yours.")
    def second_opinion(diff: Annotated[str, Field(description="The diff or code to review.")],
                       focus: Annotated[str, Field(description="Optional focus, e.g. 'thread safety'.")] = "") -> str:
        about = f", paying special attention to {focus}" if focus.strip() else ""
        return (
            "Get a second opinion on the diff below from LiveMind's local experts.\n"
            f"1. Call the `consensus` tool with this question: \"Review this diff for bugs, risky changes and "
            f"missing tests{about}. Answer with a short list.\" followed by the diff. The experts are small local "
            f"models with short context: if the diff is longer than about {LONG_INPUT_CHARS} characters, send only "
            "the hunks that matter most.\n"
            "2. Compare their answer with your own review. Say where they agree with you; check each point they "
            "raise that you missed before accepting it; mention the agreement score and any dissent.\n\n"
            f"```diff\n{diff}\n```"
        )

    @server.prompt(name="check_claim", title="Check a claim before relying on it",
                   description="Ask for a consensus on a claim; treat low agreement as uncertainty.")
    def check_claim(claim: Annotated[str, Field(description="The statement to check.")]) -> str:
        return (
            "Before relying on the claim below, call the `consensus` tool with the question: "
            f"\"Is this correct? Answer yes or no, then explain briefly: {claim}\"\n"
            "If the agreement is below 0.6 or dissent is listed, treat the claim as uncertain and say so; "
            "otherwise state the experts' verdict in one sentence."
        )
