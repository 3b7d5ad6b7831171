"""Session checkpoints: LangGraph's SQLite saver, falling back to memory when the disk refuses a write.

The graph state holds typed values (CouncilOptions, RouteDecision, Position, ...). LangGraph's
serializer stores a pydantic value with its class and revives it on load; it revives only the
classes it is told about without a warning (and none at all under LANGGRAPH_STRICT_MSGPACK), so the
checkpointer names every class the state can hold: STATE_VALUE_TYPES and the models inside them.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel

from livemind.council.options import CouncilOptions
from livemind.errors import SessionError
from livemind.types import DroppedExpert, Position, RoundRecord, RouteDecision

LOG = logging.getLogger("livemind")

STATE_VALUE_TYPES: tuple[type[BaseModel], ...] = (CouncilOptions, RouteDecision, Position, DroppedExpert, RoundRecord)
"""The typed values of the graph state (livemind.council.state); the models they hold are found from these."""


def state_classes(roots: Sequence[type[BaseModel]] = STATE_VALUE_TYPES) -> list[tuple[str, str]]:
    """(module, name) of every pydantic model the state can hold: the roots and the models in their fields."""
    found: dict[type[BaseModel], None] = {}
    pending: list[Any] = list(roots)
    while pending:
        kind = pending.pop()
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            if kind not in found:
                found[kind] = None
                pending.extend(field.annotation for field in kind.model_fields.values())
        else:
            pending.extend(get_args(kind))
    return sorted((kind.__module__, kind.__name__) for kind in found)


def state_serializer() -> JsonPlusSerializer:
    """LangGraph's serializer, reviving the state's own classes (and its built-in safe ones) without a warning."""
    return JsonPlusSerializer(allowed_msgpack_modules=state_classes())


class SessionCheckpointer(SqliteSaver):
    """SQLite checkpoints that survive restarts; a session whose save fails goes on in memory.

    When the disk is full or read-only, the session's later checkpoints are kept in memory, so
    its run (and its answer) finishes; a warning names the file and the error. Such a session
    resumes after a restart only from its last checkpoint on disk. `release` frees the memory.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        super().__init__(connection, serde=state_serializer())
        self.path = path
        self._memory = InMemorySaver(serde=self.serde)
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
