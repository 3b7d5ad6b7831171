"""ExpertChatModel: a LiveMind expert as a langchain-core chat model.

Inside the graph every expert speaks through this class, so LangGraph's `messages` stream
mode carries each token as the engine produces it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from livemind.engine.backends.base import CancelSignal
from livemind.engine.runner import ExpertRunner
from livemind.types import ChatMessage, Completion, ExpertSpec

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def to_chat_messages(messages: list[BaseMessage]) -> list[ChatMessage]:
    """langchain messages → LiveMind ChatMessage values."""
    converted = []
    for message in messages:
        role = _ROLES.get(message.type, "user")
        content = message.content if isinstance(message.content, str) else str(message.content)
        converted.append(ChatMessage(role=role, content=content))
    return converted


def to_langchain(messages: Sequence[ChatMessage]) -> list[tuple[str, str]]:
    """LiveMind ChatMessage values → langchain (role, content) pairs."""
    roles = {"system": "system", "user": "human", "assistant": "ai"}
    return [(roles[m.role], m.content) for m in messages]


def completion_metadata(completion: Completion) -> dict[str, Any]:
    """The completion's counts and timings, carried on the final message."""
    return {"livemind_completion": completion.model_dump()}


class ExpertChatModel(BaseChatModel):
    """Chat model for one LiveMind expert, generating through the shared pool."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    runner: ExpertRunner
    expert: ExpertSpec
    seed: int | None = None
    max_tokens: int | None = None
    temperature: float | None = None  # None: the expert's own
    timeout_s: float | None = None
    cancel: CancelSignal | None = None
    conversation: str | None = None
    batch_group: str | None = None

    @property
    def _llm_type(self) -> str:
        return "livemind-expert"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"expert": self.expert.name, "model": self.expert.model}

    def _run(self, messages: list[BaseMessage], on_token: Any = None) -> Completion:
        return self.runner.generate(
            self.expert, to_chat_messages(messages), seed=self.seed, max_tokens=self.max_tokens,
            temperature=self.temperature, on_token=on_token, cancel=self.cancel, timeout_s=self.timeout_s,
            conversation=self.conversation, batch_group=self.batch_group,
        )

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        completion = self._run(messages)
        message = AIMessage(content=completion.text, response_metadata=completion_metadata(completion))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        pieces: queue.Queue[tuple[str, Any]] = queue.Queue()

        def work() -> None:
            try:
                completion = self._run(messages, on_token=lambda piece: pieces.put(("token", piece)))
                pieces.put(("done", completion))
            except BaseException as exc:  # handed to the consumer thread and re-raised there
                pieces.put(("error", exc))

        worker = threading.Thread(target=work, name=f"expert-{self.expert.name}", daemon=True)
        worker.start()
        while True:
            kind, value = pieces.get()
            if kind == "token":
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=value))
                if run_manager is not None:
                    run_manager.on_llm_new_token(value, chunk=chunk)
                yield chunk
            elif kind == "done":
                yield ChatGenerationChunk(message=AIMessageChunk(content="", response_metadata=completion_metadata(value)))
                break
            else:
                worker.join()
                raise value
        worker.join()
