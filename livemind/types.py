"""LiveMind's values: defined once, shared by the core, the graph state, MCP and HTTP."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from livemind.errors import ConfigError

KvType = Literal["f16", "q8_0", "q4_0"]
Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled", "error"]
ConsensusMode = Literal["auto", "single", "parallel", "turns"]
Strategy = str
"""A council strategy's name: one registered in livemind.council.plugins (debate, vote, select, ...)."""
Transcript = Literal["private", "shared"]
"""Debate prompt layout: each expert's own conversation, or one transcript every expert's prompt starts with."""


class Value(BaseModel):
    """Base for immutable LiveMind values."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ChatMessage(Value):
    """One chat message."""

    role: Role
    content: str


class SamplingSettings(Value):
    """How an expert samples tokens."""

    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    top_k: int = Field(40, ge=0)
    repeat_penalty: float = Field(1.1, ge=0.5, le=2.0)
    max_tokens: int = Field(160, ge=1, le=4096)
    seed: int | None = None


class EngineSettings(Value):
    """How the engine loads a model: context, KV cache, attention, threads, batches.

    Each default is backed by a figure from `livemind bench` (docs/performance.md): q8_0 KV
    holds a conversation in 0.53x the bytes of f16 and decodes as fast, and a quantized V
    cache needs flash attention; `n_threads=None` uses every available core (2 threads
    prefill about 1.4x faster than 1); batch = ubatch = 256 reads a whole debate turn in one
    ubatch, and 64-512 measured within the noise of each other; four sequences per model hold
    a three-persona round plus the synthesis, or four clients at once. `n_ctx` is one
    conversation's window: the context keeps n_ctx cells for each of its n_seq_max sequences.
    """

    n_ctx: int = Field(2048, ge=128, le=131072)
    kv_type: KvType = "q8_0"
    flash_attn: bool = True
    n_threads: int | None = Field(None, ge=1, le=512)
    n_batch: int = Field(256, ge=8, le=8192)
    n_ubatch: int = Field(256, ge=8, le=8192)
    n_seq_max: int = Field(4, ge=1, le=64)
    # prompt-lookup drafting (lookup.py): up to this many guessed tokens verified per decode step, 0 off
    lookup_draft: int = Field(2, ge=0, le=16)
    # exact: guess only while a step holds at most 3 rows (a sequence decoding alone), so the text is the
    # plain path's token for token; False also drafts inside batches, where near-ties can round the other way
    lookup_exact: bool = True


class RemoteSpec(Value):
    """An expert served by a remote OpenAI-compatible server."""

    base_url: str
    model: str
    api_key: str | None = Field(None, repr=False)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    max_concurrency: int = Field(4, ge=1, le=1024)


class ExpertSpec(Value):
    """One expert: a persona over a model, with what the router knows of it."""

    name: str
    model: str
    persona: str
    description: str
    examples: tuple[str, ...] = ()
    sampling: SamplingSettings = SamplingSettings()
    engine: EngineSettings = EngineSettings()
    remote: RemoteSpec | None = None
    # measured accuracy (0-1) on a pilot of the task it serves, e.g. from `livemind eval`: breaks select's ties
    accuracy: float | None = Field(None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _engine_is_consistent(self) -> ExpertSpec:
        """Checks that span fields hold however the spec is built (TOML or code): ConfigError says the fix."""
        engine = self.engine
        if engine.kv_type != "f16" and not engine.flash_attn:
            raise ConfigError(f"a quantized KV cache ({engine.kv_type}) needs flash attention", expert=self.name,
                              field="engine.flash_attn", hint='set flash_attn = true, or kv_type = "f16"')
        if engine.n_ubatch > engine.n_batch:
            raise ConfigError("n_ubatch is larger than n_batch", expert=self.name, field="engine.n_ubatch",
                              hint="set n_ubatch <= n_batch")
        return self


class GenerationRequest(Value):
    """What a backend is asked to generate.

    `conversation` names a conversation that grows across calls (e.g. one expert in one
    debate); a backend may keep its KV cache under that name and read only the new tokens.
    `batch_group` names requests that belong together (the experts of one session, the candidates
    of one code consensus, the samples of one question): in the
    scheduler's latency mode a batch holds one group at a time. None: a group of its own.
    """

    messages: tuple[ChatMessage, ...]
    sampling: SamplingSettings = SamplingSettings()
    conversation: str | None = None
    batch_group: str | None = None


class Completion(Value):
    """A finished generation with its token counts and timings.

    `prompt_tokens` counts the prompt tokens the engine evaluated for this call;
    `cached_prompt_tokens` those it reused from the conversation's KV cache instead.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    ttft_s: float
    total_s: float
    decode_tok_s: float
    finish_reason: FinishReason
    cached_prompt_tokens: int = 0
    # prompt tokens copied from another sequence's KV cache (a debate transcript the experts share), not read
    copied_prompt_tokens: int = 0
    # Seconds before the first token, by stage: "queue" (waiting for a free sequence), "template"
    # (chat template and tokenizing), "prefill" (reading the prompt up to the first token sampled).
    stages: dict[str, float] = {}
    # prompt-lookup drafting: tokens guessed from the context and verified, and how many of them were kept
    draft_tokens: int = 0
    accepted_draft_tokens: int = 0
    # tokens the engine decoded after the caller's cancel was set (the step in progress); 0 unless cancelled
    tokens_after_cancel: int = 0
    # The engine's own confidence: the mean log-probability of the generated tokens under the model's raw
    # distribution (log-softmax of the logits each was sampled from, before penalties, temperature and
    # truncation), averaged over `logprob_tokens` tokens (the end-of-generation token is not one of them).
    # None where the backend cannot see log-probs (a remote server that does not report them, scripted fakes).
    mean_logprob: float | None = None
    logprob_tokens: int = 0


class RamUse(Value):
    """System memory when a request started and when it ended (the seed's rule: RAM before and after each request)."""

    before_percent: float
    after_percent: float
    before_bytes: int
    after_bytes: int
    limit_percent: float


class Answer(Value):
    """One expert's answer to a question."""

    answer: str
    expert: str
    model: str
    tokens: int
    prompt_tokens: int
    ttft_s: float
    total_s: float
    tok_s: float
    finish_reason: FinishReason
    routing: RouteDecision | None = None
    cached_prompt_tokens: int = 0  # prompt tokens reused from the KV cache (not in prompt_tokens)
    ram: RamUse | None = None
    stages: dict[str, float] = {}  # the engine's seconds before the first token: queue, template, prefill
    mean_logprob: float | None = None  # the engine's confidence in the reply (Completion.mean_logprob)


class RouteScore(Value):
    """How well one expert matches a question, and which of its texts matched best."""

    expert: str
    score: float
    best_match: str


class RouteDecision(Value):
    """The router's verdict: every expert's score, who was selected, and why."""

    scores: tuple[RouteScore, ...]
    selected: tuple[str, ...]
    mode: ConsensusMode
    reason: str
    # the question's language (ISO 639-1) as the router read it; None when `translate_for_routing` is off
    language: str | None = None
    # the English translation the router scored instead of the question, which the experts still answer as written
    routed_on: str | None = None
    # the kind of question whose measured council ([[router.councils]]) was convened, if one was
    council_kind: str | None = None


class Position(Value):
    """An expert's answer in one round of a debate."""

    expert: str
    label: str
    round: int
    text: str
    tokens: int
    prompt_tokens: int
    total_s: float
    changed: bool = True
    sample: int = 0  # `select` draws several samples per expert in round 0
    mean_logprob: float | None = None  # the engine's confidence in this reply (Completion.mean_logprob): weighs its vote
    finish_reason: FinishReason | None = None  # "length": the token limit cut the reply (None: not recorded)


class RoundRecord(Value):
    """What one round produced and how far the experts agreed after it.

    `answers` holds the number extracted from each position (None where there is none);
    agreement is the share on the winning number when every position holds one (of the weight,
    when the votes are weighted by confidence), and the mean pairwise embedding similarity otherwise.
    """

    round: int
    agreement: float
    positions: tuple[Position, ...]
    changed: bool
    answers: tuple[int | None, ...] = ()
    is_weighted: bool = False  # the answers' votes were weighted by confidence (agreement is a share of weight)


class Consistency(Value):
    """One expert's samples under `select`: its own majority answer and how strongly its samples agree."""

    expert: str
    samples: int
    value: int | None
    consistency: float


class DroppedExpert(Value):
    """An expert removed from a debate, and why."""

    expert: str
    round: int
    reason: str


class DebateResult(Value):
    """The outcome of a consensus or a debate.

    Every result carries its own control: `first_vote` is what a plain (unweighted) vote of the first
    answers would have answered (for checkable questions), beside the strategy's `answer_value`, whether
    the revision rounds ran (`debate_triggered`, `trigger_reason`) and the tokens they cost.
    """

    session_id: str
    question: str
    answer: str
    agreement: float
    positions: tuple[Position, ...]
    dissent: tuple[str, ...]
    rounds: int
    history: tuple[RoundRecord, ...]
    routing: RouteDecision
    mode: ConsensusMode
    mode_reason: str
    stop_reason: str
    synthesizer: str
    synthesis_error: str | None = None
    dropped: tuple[DroppedExpert, ...] = ()
    tokens: int
    prompt_tokens: int
    total_s: float
    seed: int | None = None
    strategy: Strategy = "debate"
    debate_triggered: bool | None = None
    trigger_reason: str = ""
    first_vote: int | None = None
    answer_value: int | None = None
    consistency: tuple[Consistency, ...] = ()
    # how the final answers' numbers were weighed: by confidence (exp of each reply's mean token log-prob), or
    # counted and why (an expert without log-probs); "" when they hold no number
    vote_weighting: str = ""
    ram: RamUse | None = None


class ExpertStatus(Value):
    """One expert: what it knows, its model, and whether that model is in RAM now."""

    name: str
    model: str
    description: str
    is_loaded: bool
    is_remote: bool


class LoadedModelStatus(Value):
    """One model in the pool."""

    key: str
    model: str
    estimated_bytes: int
    is_generating: bool
    idle_s: float
    uses: int


class PoolStatus(Value):
    """RAM and the model pool at one moment."""

    ram_total_bytes: int
    ram_used_bytes: int
    ram_available_bytes: int
    ram_percent: float
    hard_limit_percent: float
    soft_target_percent: float
    budget_bytes: int | None
    pool_bytes: int
    max_warm: int
    idle_ttl_s: float
    loaded: tuple[LoadedModelStatus, ...]
    loads: int
    evictions: int
    refusals: int


Answer.model_rebuild()
