"""Remote experts: any OpenAI-compatible chat server (llama.cpp server, vLLM, Ollama, another LiveMind).

"Loading" a remote expert is a health check; it takes no local memory. Generation streams
over SSE, retries with backoff only before the first token (a retry after it would repeat
text), and stops between chunks when cancelled. The API key goes in a header and nowhere else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence

import httpx

from livemind.engine.backends.base import CancelSignal, LoadTarget, MemoryEstimate, TokenCallback
from livemind.errors import RemoteExpertError
from livemind.types import ChatMessage, Completion, FinishReason, GenerationRequest, RemoteSpec

HEALTH_TIMEOUT_S = 5.0
RETRY_STATUSES = {429, 502, 503, 504}


def _headers(spec: RemoteSpec) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if spec.api_key:
        headers["authorization"] = f"Bearer {spec.api_key}"
    return headers


def _url(spec: RemoteSpec, path: str) -> str:
    return spec.base_url.rstrip("/") + path


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


class RemoteBackend:
    """Streams chat completions from an OpenAI-compatible server."""

    def __init__(self, spec: RemoteSpec, n_ctx: int, *, client: httpx.Client | None = None) -> None:
        self.spec = spec
        self._n_ctx = n_ctx
        self._client = client or httpx.Client(timeout=httpx.Timeout(spec.timeout_s, connect=HEALTH_TIMEOUT_S))

    @property
    def max_concurrency(self) -> int:
        """How many requests the pool may send to this server at once."""
        return self.spec.max_concurrency

    @property
    def n_ctx(self) -> int:
        """The context window assumed for this expert."""
        return self._n_ctx

    def check_health(self) -> None:
        """GET /models; raise RemoteExpertError saying which server is down and why."""
        try:
            response = self._client.get(_url(self.spec, "/models"), headers=_headers(self.spec), timeout=HEALTH_TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise RemoteExpertError(f"remote server {self.spec.base_url} is unreachable: {type(exc).__name__}",
                                    hint="start the server or fix base_url in the expert configuration") from exc
        if response.status_code in (401, 403):
            raise RemoteExpertError(f"remote server {self.spec.base_url} refused the API key ({response.status_code})",
                                    hint="set api_key for this expert")
        if response.status_code >= 400:
            raise RemoteExpertError(f"remote server {self.spec.base_url} answered {response.status_code} to /models",
                                    hint="check that base_url ends with /v1 and the server is healthy")

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """A rough count (about four characters per token); the server enforces the real limit."""
        return sum(len(m.content) for m in messages) // 4 + 6 * len(messages)

    def _stream_once(self, request: GenerationRequest) -> Iterator[dict[str, object]]:
        s = request.sampling
        body: dict[str, object] = {
            "model": self.spec.model, "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": s.max_tokens, "temperature": s.temperature, "top_p": s.top_p,
        }
        if s.seed is not None:
            body["seed"] = s.seed
        with self._client.stream("POST", _url(self.spec, "/chat/completions"), headers=_headers(self.spec),
                                 json=body) as response:
            if response.status_code >= 400:
                response.read()
                raise _HttpStatus(response.status_code, response.text[:300])
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                yield json.loads(data)

    def generate(self, request: GenerationRequest, *, on_token: TokenCallback | None = None,
                 cancel: CancelSignal | None = None) -> Completion:
        """Stream one completion, retrying with backoff only until the first token."""
        start = time.perf_counter()
        attempt = 0
        while True:
            pieces: list[str] = []
            first: float | None = None
            usage: dict[str, int] = {}
            finish: FinishReason = "stop"
            try:
                for chunk in self._stream_once(request):
                    if cancel is not None and cancel.is_set():
                        finish = "cancelled"
                        break
                    if chunk.get("usage"):
                        usage = dict(chunk["usage"])  # type: ignore[arg-type]
                    for choice in chunk.get("choices") or []:  # type: ignore[union-attr]
                        piece = (choice.get("delta") or {}).get("content") or ""
                        if piece:
                            first = first or time.perf_counter()
                            pieces.append(piece)
                            if on_token is not None:
                                on_token(piece)
                        if choice.get("finish_reason") == "length":
                            finish = "length"
                break
            except (httpx.HTTPError, _HttpStatus) as exc:
                retryable = not pieces and (not isinstance(exc, _HttpStatus) or exc.status in RETRY_STATUSES)
                if not retryable or attempt >= self.spec.max_retries or (cancel is not None and cancel.is_set()):
                    raise RemoteExpertError(f"remote expert at {self.spec.base_url} failed: {exc}",
                                            hint="check the server; the debate continues without this expert") from exc
                attempt += 1
                time.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)))  # backoff between retries of a failed request
        end = time.perf_counter()
        text = "".join(pieces)
        completion_tokens = int(usage.get("completion_tokens") or len(pieces))
        decode_s = end - (first or end)
        return Completion(
            text=text.strip(), prompt_tokens=int(usage.get("prompt_tokens") or self.count_tokens(request.messages)),
            completion_tokens=completion_tokens, ttft_s=(first or end) - start, total_s=end - start,
            decode_tok_s=(completion_tokens - 1) / decode_s if completion_tokens > 1 and decode_s > 0 else 0.0,
            finish_reason=finish,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


class _HttpStatus(Exception):
    def __init__(self, status: int, body: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {body}")
