"""Thin adapters at the edge: the CLI, the MCP server and the HTTP server."""
