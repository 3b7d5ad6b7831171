"""Helpers shared by the test folders: server processes, in-process apps, SSE parsing, ports."""
