"""Remote experts: any OpenAI-compatible chat server (llama.cpp server, vLLM, Ollama, another LiveMind).

"Loading" a remote expert is a health check (GET /models, no retries, a short timeout); it takes
no local memory. Generation goes through the official `openai` SDK rather than hand-written SSE:

- Retries are the SDK's: exponential backoff with jitter, honouring Retry-After, on connection
  errors, timeouts, 408/409/429 and 5xx, up to `RemoteSpec.max_retries`. The SDK retries only
  while opening the request, before the response body starts, so a request is never retried
  once a token has streamed (that would repeat text): a stream that breaks half-way raises
  RemoteExpertError and its partial text is discarded, never returned as a success. The SDK's
  backoff cannot be interrupted: a cancel during it is seen once the retried response streams.
- Cancellation is checked between chunks; a cancelled stream is closed at once (the server sees
  the connection drop and stops) and the completion comes back with finish_reason "cancelled",
  which the runner turns into GenerationCancelled or ExpertTimeout.
- Usage (prompt and completion tokens) is asked for with stream_options, and the sampled tokens'
  log-probabilities with `logprobs` (their mean is the reply's `mean_logprob`, the confidence a
  council's vote is weighted by). A server that rejects either option is asked again without it,
  and from then on never with it: the counts fall back to a rough estimate, and `mean_logprob` to
  None (so is it when a server accepts `logprobs` and sends none, as llama-cpp-python's server does
  unless `top_logprobs` is set; it is not set, since that server then fails without logits_all).
- Every SDK error becomes a RemoteExpertError naming the server and saying what to do.

The API key goes in the Authorization header and nowhere else. Without one a placeholder is sent
(servers without auth ignore it), so the SDK never falls back to the user's OPENAI_API_KEY.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from openai import Stream
from openai.types.chat import ChatCompletionChunk

from livemind.engine.backends.base import CancelSignal, LoadTarget, MemoryEstimate, TokenCallback
from livemind.errors import RemoteExpertError
from livemind.types import ChatMessage, Completion, FinishReason, GenerationRequest, RemoteSpec

OPTIONAL_PARAMETERS = ("stream_options", "logprobs")
"""Request options a server may reject by name; each is dropped for good after its first rejection."""
HEALTH_TIMEOUT_S = 5.0  # the health check's timeout, and every request's connect timeout
NO_KEY = "no-key"  # sent when an expert has no api_key: the SDK insists on one and would read OPENAI_API_KEY
DEFAULT_HINT = "check the server; the debate continues without this expert"

# Errors while opening or reading a stream. With openai>=2 every transport error arrives wrapped in
# APIConnectionError; older SDKs let httpx's errors escape from the middle of a stream.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (openai.APIError, httpx.HTTPError)
STREAM_ERRORS: tuple[type[Exception], ...] = (*TRANSPORT_ERRORS, ValueError)  # ValueError: a chunk that is not JSON


class RemoteLoader:
    """Checks that the server answers; remote experts count as zero local memory."""

    def estimate(self, target: LoadTarget) -> MemoryEstimate:
        """Nothing is loaded locally."""
        return MemoryEstimate(weights=0, kv_cache=0, compute=0)

    def load(self, target: LoadTarget) -> RemoteBackend:
        """Health-check the server and return a backend bound to it."""
        spec = _spec(target)
        backend = RemoteBackend(spec, target.engine.n_ctx)
        backend.check_health()
        return backend


def _spec(target: LoadTarget) -> RemoteSpec:
    if target.remote is None:
        raise RemoteExpertError(f"'{target.model}' is not a remote expert", hint="add a [experts.remote] table")
    return target.remote


@dataclass
class _Progress:
    """What one stream has produced so far."""

    pieces: list[str] = field(default_factory=list)
    first: float | None = None  # perf_counter() at the first piece of text
    usage: Any = None  # the server's usage object, when it sends one
    finish: FinishReason = "stop"
    logprob_total: float = 0.0  # summed log-probabilities of the sampled tokens the server reported
    logprob_tokens: int = 0

    def add(self, chunk: ChatCompletionChunk, on_token: TokenCallback | None) -> None:
        """Take one chunk's text, usage and finish reason (missing fields are tolerated)."""
        usage = getattr(chunk, "usage", None)
        if usage:
            self.usage = usage
        for choice in getattr(chunk, "choices", None) or []:
            piece = getattr(getattr(choice, "delta", None), "content", None) or ""
            if piece:
                self.first = self.first or time.perf_counter()
                self.pieces.append(piece)
                if on_token is not None:
                    on_token(piece)
            for token in getattr(getattr(choice, "logprobs", None), "content", None) or []:
                logprob = getattr(token, "logprob", None)
                if isinstance(logprob, int | float):
                    self.logprob_total += float(logprob)
                    self.logprob_tokens += 1
            if getattr(choice, "finish_reason", None) == "length":
                self.finish = "length"

    @property
    def mean_logprob(self) -> float | None:
        """The mean log-probability of the reported tokens, None when the server reported none."""
        return self.logprob_total / self.logprob_tokens if self.logprob_tokens else None


class RemoteBackend:
    """Streams chat completions from an OpenAI-compatible server through the openai SDK.

    Thread-safe: the pool may send up to `max_concurrency` requests at once over one client.
    `http_client` (an httpx.Client, e.g. over a MockTransport) replaces the SDK's own for tests.
    """

    def __init__(self, spec: RemoteSpec, n_ctx: int, *, http_client: httpx.Client | None = None) -> None:
        self.spec = spec
        self._n_ctx = n_ctx
        self._asking = set(OPTIONAL_PARAMETERS)  # an option leaves once the server has rejected it
        self._client = openai.OpenAI(
            base_url=spec.base_url, api_key=spec.api_key or NO_KEY, max_retries=spec.max_retries,
            timeout=openai.Timeout(spec.timeout_s, connect=HEALTH_TIMEOUT_S),
            http_client=http_client,  # type: ignore[arg-type]  # openai>=3 types it as httpx2.Client, accepts httpx's
        )
        # the SDK fills these from OPENAI_ORG_ID / OPENAI_PROJECT_ID: the user's OpenAI account is
        # nobody else's business, so a remote expert (another party's server) never receives them
        self._client.organization = None
        self._client.project = None

    @property
    def max_concurrency(self) -> int:
        """How many requests the pool may send to this server at once."""
        return self.spec.max_concurrency

    @property
    def n_ctx(self) -> int:
        """The context window assumed for this expert."""
        return self._n_ctx

    def check_health(self) -> None:
        """GET /models once; raise RemoteExpertError saying which server is down and why."""
        base = self.spec.base_url
        try:
            self._client.with_options(timeout=HEALTH_TIMEOUT_S, max_retries=0).models.with_raw_response.list()
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise RemoteExpertError(f"remote server {base} refused the API key ({exc.status_code})",
                                        hint="set api_key for this expert") from exc
            raise RemoteExpertError(f"remote server {base} answered {exc.status_code} to /models",
                                    hint="check that base_url ends with /v1 and the server is healthy") from exc
        except TRANSPORT_ERRORS as exc:
            raise RemoteExpertError(f"remote server {base} is unreachable: {_cause_name(exc)}",
                                    hint="start the server or fix base_url in the expert configuration") from exc

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """A rough count (about four characters per token); the server enforces the real limit."""
        return sum(len(m.content) for m in messages) // 4 + 6 * len(messages)

    def generate(self, request: GenerationRequest, *, on_token: TokenCallback | None = None,
                 cancel: CancelSignal | None = None) -> Completion:
        """Stream one completion; the SDK retries only until the response starts, never after a token."""
        start = time.perf_counter()
        progress = _Progress()
        if cancel is not None and cancel.is_set():
            progress.finish = "cancelled"  # cancelled while queued: do not bother the server
            return self._completion(request, progress, start)
        stream = self._open(request)
        try:
            for chunk in self._chunks(stream, progress):
                if cancel is not None and cancel.is_set():
                    progress.finish = "cancelled"
                    break
                progress.add(chunk, on_token)
        finally:
            stream.close()  # on cancel, error or the end: drop the connection, the server stops generating
        return self._completion(request, progress, start)

    def _open(self, request: GenerationRequest) -> Stream[ChatCompletionChunk]:
        """Send the request (the SDK retries failures before the response starts)."""
        try:
            while True:  # each pass drops at least one option, so it ends
                asking = frozenset(self._asking)
                try:
                    return self._create(request, asking=asking)
                except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                    rejected = {option for option in asking if option in str(exc)}
                    if not rejected:
                        raise
                    self._asking -= rejected  # an older server: do without from now on
        except TRANSPORT_ERRORS as exc:
            raise self._failure(exc) from exc

    def _create(self, request: GenerationRequest, *, asking: frozenset[str]) -> Stream[ChatCompletionChunk]:
        s = request.sampling
        messages: Any = [{"role": m.role, "content": m.content} for m in request.messages]
        optional: dict[str, Any] = {}  # left out, not sent as null, when unset
        if "stream_options" in asking:
            optional["stream_options"] = {"include_usage": True}
        if "logprobs" in asking:
            optional["logprobs"] = True
        if s.seed is not None:
            optional["seed"] = s.seed
        return self._client.chat.completions.create(
            model=self.spec.model, messages=messages, stream=True, max_tokens=s.max_tokens,
            temperature=s.temperature, top_p=s.top_p, **optional,
        )

    def _chunks(self, stream: Stream[ChatCompletionChunk], progress: _Progress) -> Iterator[ChatCompletionChunk]:
        """The stream's chunks; a stream that breaks raises RemoteExpertError, whatever it has already sent."""
        try:
            yield from stream
        except STREAM_ERRORS as exc:
            raise self._failure(exc, streamed=len(progress.pieces)) from exc

    def _failure(self, exc: Exception, *, streamed: int = 0) -> RemoteExpertError:
        """The RemoteExpertError for an SDK or transport error, with what to do about it."""
        spec = self.spec
        where = f"remote expert at {spec.base_url} failed"
        if streamed:
            where += f" after {streamed} streamed pieces (not retried; the partial answer is discarded)"
        hint = DEFAULT_HINT
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            detail, hint = f"the server refused the API key ({exc.status_code})", "set api_key for this expert"
        elif isinstance(exc, openai.NotFoundError):
            detail = f"the server has no model '{spec.model}' (404: {_status_detail(exc)})"
            hint = (f"set model to one that GET {spec.base_url.rstrip('/')}/models lists, "
                    "and check that base_url ends with /v1")
        elif isinstance(exc, openai.APIStatusError):
            detail = f"HTTP {exc.status_code}: {_status_detail(exc)}"
        elif isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
            detail = f"no answer within {spec.timeout_s:g} s ({_cause_name(exc)})"
            hint = "raise timeout_s for this expert or check the server"
        elif isinstance(exc, openai.APIConnectionError | httpx.HTTPError):
            detail = f"connection failed ({_cause_name(exc)})"
        else:
            detail = f"{type(exc).__name__}: {str(exc)[:300]}"
        return RemoteExpertError(f"{where}: {detail}", hint=hint)

    def _completion(self, request: GenerationRequest, progress: _Progress, start: float) -> Completion:
        end = time.perf_counter()
        usage = progress.usage
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or len(progress.pieces))
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or self.count_tokens(request.messages))
        first = progress.first or end
        decode_s = end - first
        return Completion(
            text="".join(progress.pieces).strip(), prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens, ttft_s=first - start, total_s=end - start,
            decode_tok_s=(completion_tokens - 1) / decode_s if completion_tokens > 1 and decode_s > 0 else 0.0,
            finish_reason=progress.finish, mean_logprob=progress.mean_logprob, logprob_tokens=progress.logprob_tokens,
        )

    def close(self) -> None:
        """Close the SDK client and its connection pool."""
        self._client.close()


def _cause_name(exc: BaseException) -> str:
    """The underlying transport error's name (ConnectError, ReadTimeout), not the SDK's wrapper."""
    return type(exc.__cause__ or exc).__name__


def _status_detail(exc: openai.APIStatusError) -> str:
    """The server's own message for an HTTP error, shortened."""
    body = exc.body
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return str(body["message"])[:300]
    return str(body if body else exc.message)[:300]
