"""ExpertCall: one expert's generation, seen by LangGraph as a langchain-core chat model.

The nodes speak LiveMind's own types: they hand `ChatMessage`s to an `ExpertCall` and get a
`Completion` back (`complete`). The chat model is there only because LangGraph's `messages`
stream mode listens to chat-model callbacks; it is the graph's edge, and it stays thin:

    node thread:  complete(metadata, tags) → invoke → _generate → runner.generate(ChatMessages)
    lane thread:  decode a token → on_llm_new_token → LangGraph's stream queue ──▶ graph.stream's consumer

Tokens reach the run's callbacks in the thread that decodes them (the engine's lane thread; a
remote backend's is the node thread), so each token crosses one thread hand-off, into LangGraph's
thread-safe stream queue. Each streamed chunk carries the id the final message gets, so LangGraph
does not emit the whole message again when the call ends. Langchain's callbacks and traces get a
one-way copy of the prompt; the engine gets the ChatMessages themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.utils import LC_ID_PREFIX
from pydantic import ConfigDict, PrivateAttr

from livemind.engine.backends.base import CancelSignal, TokenCallback
from livemind.engine.runner import ExpertRunner
from livemind.types import ChatMessage, Completion, ExpertSpec

_LANGCHAIN_MESSAGE: dict[str, type[BaseMessage]] = {"system": SystemMessage, "user": HumanMessage,
                                                     "assistant": AIMessage}


class ExpertCall(BaseChatModel):
    """One generation by one expert through the shared pool; `complete` runs it (once per instance)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    runner: ExpertRunner
    expert: ExpertSpec
    prompt: tuple[ChatMessage, ...]
    seed: int | None = None
    max_tokens: int | None = None
    temperature: float | None = None  # None: the expert's own
    timeout_s: float | None = None
    cancel: CancelSignal | None = None
    conversation: str | None = None
    batch_group: str | None = None
    _completion: Completion | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "livemind-expert"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"expert": self.expert.name, "model": self.expert.model}

    def complete(self, *, metadata: Mapping[str, object], tags: Sequence[str]) -> Completion:
        """Generate the answer to `prompt`; LangGraph's `messages` stream sees each token as it is decoded."""
        view = [_LANGCHAIN_MESSAGE[m.role](content=m.content) for m in self.prompt]
        self.with_config(metadata=dict(metadata), tags=list(tags)).invoke(view)
        if self._completion is None:  # invoke returns only after _generate has run
            raise RuntimeError("the expert call finished without a completion")
        return self._completion

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        """Generate from `prompt` (`messages` is langchain's copy of it), streaming to the run's callbacks."""
        message_id = f"{LC_ID_PREFIX}-{run_manager.run_id}" if run_manager is not None else None
        self._completion = self.runner.generate(
            self.expert, self.prompt, seed=self.seed, max_tokens=self.max_tokens, temperature=self.temperature,
            on_token=_token_forwarder(run_manager, message_id), token_thread="decoder", cancel=self.cancel,
            timeout_s=self.timeout_s, conversation=self.conversation, batch_group=self.batch_group)
        message = AIMessage(content=self._completion.text, id=message_id)
        return ChatResult(generations=[ChatGeneration(message=message)])


def _token_forwarder(run_manager: CallbackManagerForLLMRun | None, message_id: str | None) -> TokenCallback | None:
    """Each decoded piece to the run's callbacks as a chunk of the final message; None when nobody listens."""
    if run_manager is None or not run_manager.handlers:
        return None

    def forward(piece: str) -> None:  # runs in the decoding thread: one cheap call, no hand-off of its own
        chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece, id=message_id))
        run_manager.on_llm_new_token(piece, chunk=chunk)

    return forward
