"""The council tools' arguments, made from CouncilOptions: each offered option, with an agent's terse help and caps.

    council_tool(fn, "debate")   fn(question, ctx, options) as a tool function whose signature is
                                 question, ctx and the options offered to `mcp-debate`

The MCP SDK reads a tool's input schema from its function's signature, so the signature is built
here from the options' fields: a new option reaches the tools with no line in this package.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field
from pydantic.fields import FieldInfo

from livemind.council.options import CouncilOptions, Offer, offer_of, offered

CouncilTool = Literal["consensus", "debate"]
ToolFunction = Callable[..., Awaitable[CallToolResult]]


def agent_type(field: FieldInfo) -> Any:
    """An option's type as a tool argument: the core's bounds, the tighter AGENT_* cap, the terse help."""
    offer = offer_of(field)
    bounds = Field(description=offer.agent_help or field.description, le=offer.agent_max,
                   max_length=offer.agent_max_items)
    core = [m for m in field.metadata if not isinstance(m, Offer)]  # the field's own bounds (max_length, ge, ...)
    return Annotated[(field.annotation, *core, bounds)]


def council_tool(fn: Callable[[str, Context, CouncilOptions], Awaitable[CallToolResult]], tool: CouncilTool) -> ToolFunction:
    """fn(question, ctx, options) as a tool function taking the question, ctx and the options offered to the tool."""
    own = inspect.signature(fn, eval_str=True)
    fixed = [p for p in own.parameters.values() if p.name != "options"]
    options = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=agent_type(field))
               for name, field in offered("mcp-consensus" if tool == "consensus" else "mcp-debate").items()]
    parameters = fixed + options

    async def call(question: str, ctx: Context, **values: object) -> CallToolResult:
        return await fn(question, ctx, CouncilOptions.of(**values))

    call.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": own.return_annotation}
    call.__name__ = call.__qualname__ = tool
    call.__doc__ = fn.__doc__
    return call
