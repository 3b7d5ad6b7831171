"""One set of bounds: the same out-of-range values through the core, HTTP, MCP and the CLI get the same verdict.

Every door refuses the value before any model loads, and says which field is wrong. HTTP runs
in process (Starlette's test client over the real app, lifespan included), MCP over the
in-memory client, the CLI through its `main()`: no server process, no model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from starlette.testclient import TestClient

from livemind import limits
from livemind.cli.main import main as cli_main
from livemind.errors import InvalidRequestError
from livemind.mcp.server import create_mcp_server
from livemind.orchestrator import LiveMind

LONG = "x" * (limits.QUESTION_CHARS + 1)
NINE = ["alpha"] * (limits.EXPERTS + 1)


@dataclass(frozen=True)
class Case:
    """One out-of-range value, as each interface spells it (None: that interface does not take it)."""

    field: str
    core: Callable[[LiveMind], object]
    http: tuple[str, dict[str, Any]] | None
    mcp: tuple[str, dict[str, Any]] | None
    cli: list[str] | None


CASES = [
    Case("question", lambda m: m.ask(LONG), ("/v1/livemind/debate", {"question": LONG, "stream": False}),
         ("ask", {"question": LONG}), ["ask", LONG]),
    Case("question", lambda m: m.ask(LONG),
         ("/v1/chat/completions", {"model": "alpha", "messages": [{"role": "user", "content": LONG}]}), None, None),
    Case("rounds", lambda m: m.debate("q", rounds=limits.ROUNDS + 1),
         ("/v1/livemind/debate", {"question": "q", "rounds": limits.ROUNDS + 1}),
         ("debate", {"question": "q", "rounds": limits.ROUNDS + 1}), ["debate", "q", "--rounds", str(limits.ROUNDS + 1)]),
    Case("experts", lambda m: m.debate("q", experts=NINE), ("/v1/livemind/debate", {"question": "q", "experts": NINE}),
         ("debate", {"question": "q", "experts": NINE}), ["debate", "q", "--experts", ",".join(NINE)]),
    Case("max_tokens", lambda m: m.debate("q", max_tokens=limits.TOKENS + 1),
         ("/v1/livemind/consensus", {"question": "q", "max_tokens": limits.TOKENS + 1}),
         ("ask", {"question": "q", "max_tokens": limits.TOKENS + 1}), ["ask", "q", "--max-tokens", str(limits.TOKENS + 1)]),
    Case("max_tokens", lambda m: m.ask("q", max_tokens=0),
         ("/v1/chat/completions", {"model": "alpha", "messages": [{"role": "user", "content": "q"}], "max_tokens": 0}),
         ("ask", {"question": "q", "max_tokens": 0}), ["ask", "q", "--max-tokens", "0"]),
    Case("seed", lambda m: m.debate("q", seed=limits.SEED_MAX + 1),
         ("/v1/livemind/consensus", {"question": "q", "seed": limits.SEED_MAX + 1}),
         ("consensus", {"question": "q", "seed": limits.SEED_MAX + 1}), ["consensus", "q", "--seed", str(limits.SEED_MAX + 1)]),
    Case("seed", lambda m: m.ask("q", seed=-1),
         ("/v1/chat/completions", {"model": "alpha", "messages": [{"role": "user", "content": "q"}], "seed": -1}),
         ("ask", {"question": "q", "seed": -1}), ["ask", "q", "--seed", "-1"]),
    Case("temperature", lambda m: m.ask("q", temperature=2.5),
         ("/v1/chat/completions", {"model": "alpha", "messages": [{"role": "user", "content": "q"}], "temperature": 2.5}),
         None, ["ask", "q", "--temperature", "2.5"]),
    Case("samples", lambda m: m.debate("q", strategy="select", samples=limits.SAMPLES[1] + 1), None, None,
         ["debate", "q", "--strategy", "select", "--samples", str(limits.SAMPLES[1] + 1)]),
]
IDS = [f"{c.field}-{i}" for i, c in enumerate(CASES)]


@pytest.fixture(scope="module")
def cli_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli")
    (home / "a.gguf").write_bytes(b"GGUF")
    experts = "\n".join(f'[[experts]]\nname = "{n}"\nmodel = "{home / "a.gguf"}"\npersona = "You are {n}."\n'
                        f'description = "{n} topics"\nexamples = ["a question about {n}"]\n' for n in ("alpha", "beta"))
    path = home / "council.toml"
    path.write_text(f'[router]\nfallback = "alpha"\n[debate]\nsynthesizer = "alpha"\n{experts}', encoding="utf-8")
    return path


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_core_refuses_naming_the_field(mind: LiveMind, case: Case) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        case.core(mind)
    assert case.field in refused.value.message and refused.value.hint


@pytest.mark.parametrize("case", [c for c in CASES if c.http], ids=[i for i, c in zip(IDS, CASES, strict=True) if c.http])
def test_http_refuses_with_400_naming_the_field(http: TestClient, case: Case) -> None:
    assert case.http is not None
    path, body = case.http
    response = http.post(path, json=body)
    assert response.status_code == 400, response.text
    assert case.field in response.json()["error"]["message"], response.json()


@pytest.mark.parametrize("case", [c for c in CASES if c.mcp], ids=[i for i, c in zip(IDS, CASES, strict=True) if c.mcp])
def test_mcp_refuses_with_a_tool_error_naming_the_field(mind: LiveMind, case: Case) -> None:
    assert case.mcp is not None
    tool, arguments = case.mcp

    async def call() -> tuple[bool, str]:
        async with Client(create_mcp_server(lambda: mind)) as client:
            result = await client.call_tool(tool, arguments)
        return bool(result.is_error), " ".join(getattr(b, "text", "") for b in result.content)

    is_error, text = anyio.run(call)
    assert is_error and case.field in text, text


@pytest.mark.parametrize("case", [c for c in CASES if c.cli], ids=[i for i, c in zip(IDS, CASES, strict=True) if c.cli])
def test_the_cli_refuses_with_exit_2_naming_the_field(cli_config: Path, home: Path, case: Case,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert case.cli is not None
    code = cli_main(["--config", str(cli_config), "--home", str(home), *case.cli])
    said = capsys.readouterr().err
    assert code == 2 and case.field in said and "what to do" in said, said


def test_agent_caps_are_never_looser_than_the_core() -> None:
    assert limits.AGENT_EXPERTS <= limits.EXPERTS and limits.AGENT_ROUNDS <= limits.ROUNDS
    assert limits.AGENT_TOKENS <= limits.TOKENS
