"""Helpers shared by the test folders; no test module imports helpers from another test module.

    fakes      scripted backends, loader and embedder at the engine's seams
    minds      the one scripted-LiveMind builder (open_mind and what builds on it) and its scripts
    faults     fault injection over the fakes: failing loads, stalling engines, a memory meter
    servers    server processes, ports, SSE parsing, RSS sampling; REPO, the repository's root
    inprocess  the HTTP app in process
    mcp_calls  the MCP tool names and a progress log of one call
    recording  rows for docs/reliability.md (a pytest plugin, loaded by tests/conftest.py)
    ram_watch  the suite stops itself past its RAM limit (a pytest plugin, loaded by tests/conftest.py)
"""
