"""Session records and transcripts: a SQLite table beside the graph's checkpoints, plus Markdown/JSON files."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livemind.errors import SessionError
from livemind.types import DebateResult

_SCHEMA = """
CREATE TABLE IF NOT EXISTS livemind_sessions (
    session_id TEXT PRIMARY KEY,
    question TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    result TEXT
)
"""


@dataclass(frozen=True)
class SessionRecord:
    """One debate session: what was asked, with which parameters, and how it ended."""

    session_id: str
    question: str
    params: dict[str, Any]
    status: str
    created_at: float
    updated_at: float
    result: DebateResult | None


class SessionStore:
    """Sessions in SQLite; transcripts written as Markdown and JSON."""

    def __init__(self, db_path: Path, transcripts_dir: Path) -> None:
        self.db_path = db_path
        self.transcripts_dir = transcripts_dir
        self._lock = threading.Lock()
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(db_path), check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise SessionError(f"cannot open the session database {db_path}: {exc}",
                               hint="check that LIVEMIND_HOME is writable and the disk is not full") from exc

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        try:
            with self._lock:
                self._db.execute(sql, args)
                self._db.commit()
        except sqlite3.Error as exc:
            raise SessionError(f"cannot save the session to {self.db_path}: {exc}",
                               hint="free disk space or make LIVEMIND_HOME writable; the answer itself is not lost") from exc

    def create(self, session_id: str, question: str, params: dict[str, Any]) -> None:
        """Record a new session as running."""
        now = time.time()
        self._write("INSERT OR REPLACE INTO livemind_sessions VALUES (?, ?, ?, 'running', ?, ?, NULL)",
                    (session_id, question, json.dumps(params), now, now))

    def mark(self, session_id: str, status: str) -> None:
        """Set a session's status (running, cancelled, failed)."""
        self._write("UPDATE livemind_sessions SET status = ?, updated_at = ? WHERE session_id = ?",
                    (status, time.time(), session_id))

    def finish(self, result: DebateResult) -> tuple[Path, Path]:
        """Store the result and write the transcript files; return (markdown, json) paths."""
        self._write("UPDATE livemind_sessions SET status = 'done', updated_at = ?, result = ? WHERE session_id = ?",
                    (time.time(), result.model_dump_json(), result.session_id))
        return self.write_transcript(result)

    def write_transcript(self, result: DebateResult) -> tuple[Path, Path]:
        """Write <id>.md and <id>.json; raise SessionError when the disk refuses."""
        md_path = self.transcripts_dir / f"{result.session_id}.md"
        json_path = self.transcripts_dir / f"{result.session_id}.json"
        try:
            self.transcripts_dir.mkdir(parents=True, exist_ok=True)
            json_path.write_text(result.model_dump_json(indent=2), encoding="utf-8")
            md_path.write_text(render_markdown(result), encoding="utf-8")
        except OSError as exc:
            raise SessionError(f"cannot write the transcript to {self.transcripts_dir}: {exc}",
                               hint="free disk space or make LIVEMIND_HOME writable; the answer itself is not lost") from exc
        return md_path, json_path

    def get(self, session_id: str) -> SessionRecord:
        """One session, or SessionError naming how to list them."""
        with self._lock:
            row = self._db.execute("SELECT * FROM livemind_sessions WHERE session_id = ?", (session_id,)).fetchone()
        if row is None:
            raise SessionError(f"no session '{session_id}'", hint="run `livemind sessions list` for the ids")
        return _record(row)

    def list(self, limit: int = 50) -> list[SessionRecord]:
        """Recent sessions, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM livemind_sessions ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [_record(r) for r in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _record(row: tuple[Any, ...]) -> SessionRecord:
    session_id, question, params, status, created, updated, result = row
    return SessionRecord(session_id, question, json.loads(params), status, created, updated,
                         DebateResult.model_validate_json(result) if result else None)


def render_markdown(result: DebateResult) -> str:
    """A readable transcript: routing, every round, the answer, agreement and dissent."""
    lines = [f"# LiveMind session {result.session_id}", "", f"**Question:** {result.question}", "",
             f"**Mode:** {result.mode} ({result.mode_reason})", "", "## Routing", "",
             "| expert | score | best match |", "|---|---|---|"]
    lines += [f"| {s.expert} | {s.score:.3f} | {s.best_match} |" for s in result.routing.scores]
    for record in result.history:
        title = "Independent answers" if record.round == 0 else f"Round {record.round}"
        lines += ["", f"## {title} (agreement {record.agreement:.2f})", ""]
        for p in record.positions:
            lines += [f"### {p.expert} ({p.label}, {p.tokens} tokens, {p.total_s:.1f} s)", "", p.text, ""]
    lines += ["", "## Answer", "", result.answer, "",
              f"- agreement: {result.agreement:.2f}", f"- rounds: {result.rounds} ({result.stop_reason})",
              f"- synthesiser: {result.synthesizer}", f"- tokens: {result.tokens} generated, {result.prompt_tokens} prompt",
              f"- time: {result.total_s:.1f} s"]
    if result.synthesis_error:
        lines.append(f"- synthesis error: {result.synthesis_error}")
    if result.dissent:
        lines += ["", "## Dissent", ""] + [f"- {d}" for d in result.dissent]
    if result.dropped:
        lines += ["", "## Dropped experts", ""] + [f"- {d.expert} (round {d.round}): {d.reason}" for d in result.dropped]
    return "\n".join(lines) + "\n"
