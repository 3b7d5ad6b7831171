"""Session checkpoints: LangGraph's SQLite saver, falling back to memory when the disk refuses a write."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from livemind.errors import SessionError

LOG = logging.getLogger("livemind")


class SessionCheckpointer(SqliteSaver):
    """SQLite checkpoints that survive restarts; a session whose save fails goes on in memory.

    When the disk is full or read-only, the session's later checkpoints are kept in memory, so
    its run (and its answer) finishes; a warning names the file and the error. Such a session
    resumes after a restart only from its last checkpoint on disk. `release` frees the memory.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        super().__init__(connection)
        self.path = path
        self._memory = InMemorySaver()
        self._in_memory: set[str] = set()

    def _fall_back(self, thread_id: str, exc: sqlite3.Error) -> None:
        with self.lock, contextlib.suppress(sqlite3.Error):
            self.conn.rollback()  # a failed commit can leave the shared connection inside a transaction
        self._in_memory.add(thread_id)
        LOG.warning("cannot save checkpoints of session %s to %s: %s; the session goes on in memory and cannot "
                    "resume from later steps after a restart; free disk space or make LIVEMIND_HOME writable",
                    thread_id, self.path, exc)

    def put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:
        """Save to SQLite, or to memory once SQLite has failed for this session."""
        thread_id = str(config["configurable"]["thread_id"])
        if thread_id not in self._in_memory:
            try:
                return super().put(config, checkpoint, metadata, new_versions)
            except sqlite3.Error as exc:
                self._fall_back(thread_id, exc)
        return self._memory.put(config, checkpoint, metadata, new_versions)

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> None:
        """Save pending writes to SQLite, or to memory once SQLite has failed for this session."""
        thread_id = str(config["configurable"]["thread_id"])
        if thread_id not in self._in_memory:
            try:
                super().put_writes(config, writes, task_id, task_path)
                return
            except sqlite3.Error as exc:
                self._fall_back(thread_id, exc)
        self._memory.put_writes(config, writes, task_id, task_path)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The newest checkpoint: from memory for a session whose saves failed, else from SQLite."""
        if str(config["configurable"]["thread_id"]) in self._in_memory:
            found = self._memory.get_tuple(config)
            if found is not None:
                return found
        return super().get_tuple(config)

    @property
    def in_memory_sessions(self) -> frozenset[str]:
        """Sessions whose checkpoints are held in memory because the disk refused them."""
        return frozenset(self._in_memory)

    def release(self, thread_id: str) -> None:
        """Forget a finished session's in-memory checkpoints."""
        if thread_id in self._in_memory:
            self._in_memory.discard(thread_id)
            self._memory.delete_thread(thread_id)


def open_checkpointer(path: Path) -> SessionCheckpointer:
    """A SQLite checkpointer that survives restarts (one file, WAL mode, shared across threads)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(str(path), check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        saver = SessionCheckpointer(connection, path)
        saver.setup()
    except (OSError, sqlite3.Error) as exc:
        raise SessionError(f"cannot open the checkpoint database {path}: {exc}",
                           hint="check that LIVEMIND_HOME is writable and the disk is not full") from exc
    return saver
