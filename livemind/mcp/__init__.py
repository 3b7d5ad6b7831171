"""The MCP adapter: ask, consensus, debate and status tools over stdio and streamable HTTP (`livemind mcp`)."""
