"""The LiveMind error tree. Every error says what happened and what to do.

    LiveMindError
    ├── ConfigError                  invalid expert configuration (names expert, field, fix)
    ├── ModelError
    │   ├── ModelNotFoundError       a model name or file that does not exist
    │   ├── ModelCorruptError        a file that is not a loadable GGUF / fails sha256
    │   └── ModelLoadError           the engine refused to load a model
    ├── EngineError                  the inference engine failed during generation
    ├── RamBudgetExceeded            loading would pass the RAM limit (needed, available, limit)
    ├── RequestError
    │   ├── PromptTooLongError       the prompt does not fit the context window
    │   ├── UnknownExpertError       an expert name that is not configured
    │   └── InvalidRequestError      a malformed request (bad value, out of bounds)
    ├── GenerationCancelled          the caller cancelled a generation
    ├── BusyError                    a queue is full (retry later)
    ├── RemoteExpertError            a remote OpenAI-compatible expert failed
    ├── SessionError                 a session that is missing or cannot be saved
    ├── TranslationUnavailable       a question could not be translated for routing (it is routed as written)
    ├── MissingExtraError            an optional dependency is not installed (names the extra)
    └── SandboxError                 the sandbox for model-written code could not be set up (no verdict on the code)

Adapters translate these into HTTP statuses and MCP tool errors.
"""

from __future__ import annotations


class LiveMindError(Exception):
    """Root of every error LiveMind raises on purpose."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}; {hint}" if hint else message)


class ConfigError(LiveMindError):
    """The configuration is invalid; the message names the expert, the field and the fix."""

    def __init__(self, message: str, *, expert: str = "", field: str = "", hint: str = "") -> None:
        self.expert = expert
        self.field = field
        where = ""
        if expert:
            where = f"expert '{expert}'"
            if field:
                where += f", field '{field}'"
            where += ": "
        super().__init__(where + message, hint=hint)


class ModelError(LiveMindError):
    """A model cannot be used."""


class ModelNotFoundError(ModelError):
    """A model name is not in the catalog, or its file is missing."""


class ModelCorruptError(ModelError):
    """A model file is truncated, corrupt, or fails its checksum."""


class ModelLoadError(ModelError):
    """The engine refused to load a model file."""


class EngineError(LiveMindError):
    """The inference engine failed while generating."""


class RamBudgetExceeded(LiveMindError):
    """Loading a model would pass the RAM limit and nothing more can be evicted."""

    def __init__(self, *, model: str, needed: int, available: int, limit: int, detail: str = "",
                 permanent: bool = False) -> None:
        self.model = model
        self.needed = needed
        self.available = available
        self.limit = limit
        # True when the model needs more than the limit itself: no eviction and no wait will ever make it fit
        self.permanent = permanent
        mib = 1024 * 1024
        message = (
            f"RAM budget exceeded loading '{model}': needs {needed / mib:.0f} MiB, "
            f"{available / mib:.0f} MiB available under the limit of {limit / mib:.0f} MiB"
        )
        if detail:
            message += f" ({detail})"
        if permanent:
            message += "; it cannot fit even with every other model unloaded, so retrying will not help"
            hint = (f"raise --ram-budget / LIVEMIND_RAM_BUDGET above {needed / mib:.0f} MiB, give this expert a "
                    "smaller n_ctx or model, or ask another expert")
        else:
            hint = "use mode=turns, fewer experts, a smaller n_ctx, or raise --ram-budget"
        super().__init__(message, hint=hint)


class RequestError(LiveMindError):
    """A request that cannot be served as given."""


class PromptTooLongError(RequestError):
    """A prompt that does not fit the expert's context window."""

    def __init__(self, *, tokens: int, limit: int, expert: str = "") -> None:
        self.tokens = tokens
        self.limit = limit
        who = f" for expert '{expert}'" if expert else ""
        super().__init__(
            f"prompt is {tokens} tokens, over the limit of {limit}{who}",
            hint="shorten the question or configure a larger n_ctx",
        )


class UnknownExpertError(RequestError):
    """An expert name that is not configured."""

    def __init__(self, name: str, valid: list[str]) -> None:
        self.name = name
        self.valid = valid
        super().__init__(f"unknown expert '{name}'", hint=f"valid experts: {', '.join(valid)}")


class InvalidRequestError(RequestError):
    """A malformed or out-of-bounds request."""


class GenerationCancelled(LiveMindError):
    """The caller cancelled a generation before it finished.

    `tokens_after_cancel`: tokens the engine decoded once the cancel was set (the step in progress),
    when the engine counted them; None when it was cancelled before reaching the engine.
    """

    def __init__(self, message: str, *, hint: str = "", tokens_after_cancel: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.tokens_after_cancel = tokens_after_cancel


class BusyError(LiveMindError):
    """A bounded queue is full."""

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, hint=f"retry after {retry_after_s:.0f} s")


class RemoteExpertError(LiveMindError):
    """A remote OpenAI-compatible expert failed or timed out."""


class SessionError(LiveMindError):
    """A session that is missing or cannot be saved."""


class TranslationUnavailable(LiveMindError):
    """The router could not translate a question into English; the router catches it and routes the question as written."""


class MissingExtraError(LiveMindError):
    """An optional dependency is not installed; the hint names the extra that brings it."""

    def __init__(self, module: str, extra: str, needed_for: str) -> None:
        super().__init__(f"{needed_for} needs {module}, which is not installed",
                         hint=f"pip install 'livemind[{extra}]' (tools/setup.sh installs every extra)")


class SandboxError(LiveMindError):
    """The sandbox could not be set up to run a program; this says nothing about the program itself."""
