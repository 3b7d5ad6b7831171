"""Disk faults while saving a session: every answer is kept and the user is told why.

A real filesystem: a tiny tmpfs filled up or remounted read-only when the tests may mount one,
and /dev/full everywhere. Split from test_faults.py (model-file, debate and RAM faults).
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client

from livemind.errors import SessionError
from livemind.mcp.server import create_mcp_server
from livemind.orchestrator import LiveMind
from livemind.types import DebateResult
from tests.support.fakes import ScriptedLoader
from tests.support.faults import EXPERTS, fault_config
from tests.support.minds import open_mind, stubborn
from tests.support.recording import Record

MOUNT_SIZE = "1m"


# -- disk full or read-only while saving a session -----------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs the right to mount; skipped without it), unmounted afterwards."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={MOUNT_SIZE}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the /dev/full test still runs")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(folder: Path) -> None:
    """Write until the filesystem is full."""
    with (folder / "filler").open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            return


def _every_way_in(mind: LiveMind) -> tuple[DebateResult, str, DebateResult]:
    """A debate (Python API), an ask, and a consensus over a real MCP client session."""
    debate = mind.debate("a question", experts=list(EXPERTS), rounds=1, mode="parallel")
    answer = mind.ask("a question about beta", expert="beta", max_tokens=8)

    async def over_mcp() -> DebateResult:
        with anyio.fail_after(60):
            async with Client(create_mcp_server(lambda: mind)) as client:
                done = await client.call_tool("consensus", {"question": "q", "experts": ["alpha", "beta"]})
        assert not done.is_error, done.content
        return DebateResult.model_validate(done.structured_content)

    return debate, answer.answer, anyio.run(over_mcp)


@pytest.mark.fault(simulated="scripted engine; the full disk is a real tmpfs",
                   fault="disk full while saving sessions (tmpfs)",
                   kept="answers returned (Python API, MCP); warnings name file and cause")
def test_a_disk_that_fills_up_mid_session_keeps_every_answer_and_says_why(
        tmp_path: Path, tiny_disk: Path, caplog: pytest.LogCaptureFixture, record: Record) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for folder in ("sessions", "transcripts"):  # checkpoints, session records and transcripts all on the tiny disk
        (tiny_disk / folder).mkdir()
        (home / folder).symlink_to(tiny_disk / folder)
    mind = open_mind(home, fault_config(home), ScriptedLoader(stubborn))
    try:
        _fill(tiny_disk)
        with caplog.at_level(logging.WARNING, logger="livemind"):
            debate, answer, consensus = _every_way_in(mind)
        in_memory = mind.graph.checkpointer.in_memory_sessions  # type: ignore[union-attr]
    finally:
        mind.close()
    assert debate.answer == "synthesised answer combining everyone" and debate.rounds == 1
    assert answer.startswith("beta")
    assert consensus.strategy == "vote" and consensus.answer in {p.text for p in consensus.positions}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"cannot save checkpoints of session {debate.session_id}" in w and "database or disk is full" in w
               and "free disk space" in w for w in warnings), warnings
    assert any("cannot save the session" in w and "database or disk is full" in w for w in warnings), warnings
    assert in_memory == set(), "finished sessions leave no checkpoints behind in memory"


@pytest.mark.fault(simulated="scripted engine; the read-only folder is real",
                   fault="read-only transcript folder", kept="answers returned and stored; warning logged")
def test_a_read_only_transcript_folder_keeps_every_answer_and_says_why(
        tmp_path: Path, tiny_disk: Path, caplog: pytest.LogCaptureFixture, record: Record) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (tiny_disk / "transcripts").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    (home / "transcripts").symlink_to(tiny_disk / "transcripts")
    mind = open_mind(home, fault_config(home), ScriptedLoader(stubborn))
    try:
        with caplog.at_level(logging.WARNING, logger="livemind"):
            debate, _, consensus = _every_way_in(mind)
        stored = mind.session(debate.session_id)
    finally:
        mind.close()
    assert debate.answer == "synthesised answer combining everyone"
    assert consensus.strategy == "vote" and consensus.answer in {p.text for p in consensus.positions}
    assert stored.status == "done" and stored.result == debate, "the session database kept the whole result"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("cannot write the transcript" in w and "Read-only file system" in w
               and "the answer itself is not lost" in w for w in warnings), warnings


def test_a_read_only_home_is_refused_at_start_saying_what_to_fix(tmp_path: Path, tiny_disk: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    (home / "sessions").symlink_to(tiny_disk)
    with pytest.raises(SessionError) as refused:
        open_mind(home, fault_config(home), ScriptedLoader(stubborn))
    assert "cannot open the checkpoint database" in refused.value.message
    assert "LIVEMIND_HOME is writable" in refused.value.hint


@pytest.mark.fault(simulated="scripted engine; the full disk is the real /dev/full",
                   fault="transcript write on a full disk (/dev/full)", kept="answer returned and stored in SQLite")
def test_a_transcript_hitting_a_full_disk_keeps_the_answer_and_says_why(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, record: Record) -> None:
    # /dev/full answers every write with ENOSPC: a full disk without mounting anything.
    mind = open_mind(tmp_path, fault_config(tmp_path), ScriptedLoader(stubborn))
    (tmp_path / "transcripts").mkdir()
    for suffix in ("json", "md"):
        os.symlink("/dev/full", tmp_path / "transcripts" / f"fixed-id.{suffix}")
    try:
        with caplog.at_level(logging.WARNING, logger="livemind"):
            events = list(mind.stream("q", experts=["alpha", "beta"], rounds=0, mode="parallel", session_id="fixed-id",
                                      strategy="debate"))  # answers and a synthesis
        stored = mind.session("fixed-id")
    finally:
        mind.close()
    result = events[-1].result
    assert result is not None and result.answer == "synthesised answer combining everyone"
    assert stored.status == "done" and stored.result == result, "the database still has the whole result"
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "cannot write the transcript" in warning and "No space left on device" in warning


def test_a_home_whose_sessions_folder_cannot_be_created_is_refused_saying_what_to_fix(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "sessions").write_text("a file where the sessions folder belongs")
    with pytest.raises(SessionError) as refused:
        open_mind(home, fault_config(home), ScriptedLoader(stubborn))
    assert "sessions" in str(refused.value) and "LIVEMIND_HOME is writable" in str(refused.value)

