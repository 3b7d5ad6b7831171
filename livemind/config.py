"""Expert configuration: a TOML file, validated once at start-up.

The package ships named councils in `livemind/councils/`: `default` (the capable council) and
`tiny` (small and fast). `--council NAME` or LIVEMIND_COUNCIL picks one; `--config FILE` or
LIVEMIND_CONFIG (read at the edge) replaces them. Every error names the expert, the field and the fix.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import Field, ValidationError, model_validator

from livemind.errors import ConfigError, ModelError, UnknownExpertError
from livemind.types import EngineSettings, ExpertSpec, RemoteSpec, SamplingSettings, Strategy, Transcript, Value

DEFAULT_COUNCIL = "default"
DEFAULT_HOME = Path.home() / ".cache" / "livemind"
"""Models and sessions, unless LIVEMIND_HOME or --home names another folder."""
HUB_PREFIX = "hf:"
"""A model reference on the hub: `hf:owner/repo/file.gguf`."""
SHIPPED_COUNCILS: dict[str, str] = {
    "default": "five personas on Qwen2.5-Coder-1.5B-Instruct (one shared copy, 1.1 GB): the capable council",
    "tiny": "SmolLM2-135M personas and a Gemma 3 270M futurist (350 MB): fast, for small machines and tests",
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


class _ModelInfo(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...


class ModelLookup(Protocol):
    """What checking a config needs of the model catalog (engine/catalog.py's ModelCatalog is one)."""

    def is_catalog_name(self, name: str) -> bool: ...
    def resolve(self, name: str) -> object: ...
    def list(self) -> Sequence[_ModelInfo]: ...


class PoolSettings(Value):
    """How many models stay warm, for how long, and the RAM limits."""

    max_warm: int = Field(2, ge=1, le=64)
    idle_ttl_s: float = Field(300.0, gt=0)
    hard_limit_percent: float = Field(90.0, gt=0, le=100)
    soft_target_percent: float = Field(80.0, gt=0, le=100)
    budget_bytes: int | None = Field(None, gt=0)
    # over hard_limit_percent, answer from experts whose model is already loaded rather than load another
    prefer_loaded: bool = False

    @model_validator(mode="after")
    def _soft_under_hard(self) -> PoolSettings:
        if self.soft_target_percent > self.hard_limit_percent:
            raise ConfigError("soft_target_percent is above hard_limit_percent",
                              hint="keep the soft target at or below the hard limit")
        return self


class MeasuredCouncil(Value):
    """The council for one kind of question, chosen by measurement rather than by the experts' descriptions.

    A question whose best cosine score against `examples` reaches the router's threshold, and beats every
    other kind's, convenes `experts` whenever the router would convene a council (docs/routing.md, "Measured
    councils"). `livemind eval` measures them: the pilot's best subset of two or more personas.
    """

    kind: str = Field(min_length=1, max_length=64)
    examples: tuple[str, ...] = Field(min_length=1)  # what questions of this kind look like
    experts: tuple[str, ...] = Field(min_length=2)
    evidence: str = ""  # where the measurement is, e.g. "docs/eval/word-personas: pilot 7/10, the most of any subset"


class RouterSettings(Value):
    """How the router picks experts."""

    embedding_model: str = "all-minilm-l6-v2"
    # onnx: ONNX Runtime, 7.6 ms per question here; torch: 20-25 ms (bench: routing_p50_ms)
    embedding_backend: Literal["onnx", "torch"] = "onnx"
    threshold: float = Field(0.15, ge=-1.0, le=1.0)
    fallback: str = "generalist"
    top_k: int = Field(3, ge=1, le=16)
    auto_margin: float = Field(0.08, ge=0.0, le=2.0)
    # auto: a question detected as not English is routed on its English translation by `translator`'s model
    # (the embedding model knows English only: routed as written, the Spanish, French and German versions of 14
    # questions convened the English version's council 2, 5 and 4 times; on the translation 14 each, docs/languages.md);
    # off: route every question as written (a council whose models cannot translate, like `tiny`)
    translate_for_routing: Literal["auto", "off"] = "auto"
    translator: str | None = None  # the expert whose model translates; default: the fallback expert
    councils: tuple[MeasuredCouncil, ...] = ()  # [[router.councils]]: measured councils per kind of question


class DebateSettings(Value):
    """The council's strategy, rounds, agreement, quorum and who synthesises."""

    max_rounds: int = Field(2, ge=0, le=10)
    agreement_threshold: float = Field(0.9, ge=0.0, le=1.0)
    quorum: int = Field(2, ge=1, le=16)
    synthesizer: str = "generalist"
    dissent_threshold: float = Field(0.6, ge=-1.0, le=1.0)
    expert_timeout_s: float = Field(300.0, gt=0)
    # The strategy of a council call that names none and asks only for an answer (`consensus` in the CLI, MCP and
    # HTTP; LiveMind.consensus and .stream); a debate call (CLI `debate`, MCP `debate`, livemind-debate,
    # LiveMind.debate) debates unless told otherwise.
    # vote: on the default council's seeded arithmetic eval (docs/eval/arithmetic) it is the council strategy with
    # the most right answers and the fewest tokens; select and debate cost 2-2.5x the tokens and got fewer right.
    strategy: Strategy = "vote"
    # The strategy of such a call when the question asks for a Python function (livemind.council.code.requests);
    # "" keeps `strategy` for every question. code: on HumanEval (docs/eval/humaneval-default) the council's own
    # replies chosen by running them beat the vote's pick of the same replies, at the same tokens (docs/humaneval.md).
    function_strategy: Strategy = "code"
    # debate only when the first answers disagree (different numbers, or similarity under the threshold)
    selective: bool = True
    samples: int = Field(3, ge=2, le=16)  # `select`: answers sampled per expert
    select_temperature: float = Field(0.7, gt=0.0, le=2.0)  # `select` samples at least this hot
    # private: each expert's own conversation (persona as system, its answers as assistant turns);
    # shared: one transcript of all answers that every expert's prompt starts with, so the backend can copy its KV
    # (docs/design/debate-speed.md 1.2). Off by default: on 20 word problems (docs/eval/word-shared-reread) it kept
    # the quality (debate 16/20 against 17 private, vote 19 and 19), on 30 arithmetic questions it lost
    # (docs/eval/arithmetic-shared: vote 5/30 against 13, debates 7 against 11).
    transcript: Transcript = "private"


class LiveMindConfig(Value):
    """Everything the core needs, validated."""

    experts: tuple[ExpertSpec, ...]
    pool: PoolSettings = PoolSettings()
    router: RouterSettings = RouterSettings()
    debate: DebateSettings = DebateSettings()

    @model_validator(mode="after")
    def _names_resolve(self) -> LiveMindConfig:
        """Unique expert names; the fallback and the synthesiser are experts (checked however it is built)."""
        if not self.experts:
            raise ConfigError("the configuration has no experts", hint="define at least one [[experts]] table")
        seen: set[str] = set()
        for spec in self.experts:
            if spec.name in seen:
                raise ConfigError("duplicate expert name", expert=spec.name, field="name",
                                  hint="give each expert a unique name")
            seen.add(spec.name)
        names = ", ".join(sorted(seen))
        if self.router.fallback not in seen:
            raise ConfigError(f"router fallback '{self.router.fallback}' is not an expert", field="fallback",
                              hint=f"set [router] fallback to one of: {names}")
        if self.router.translator is not None and self.router.translator not in seen:
            raise ConfigError(f"router translator '{self.router.translator}' is not an expert", field="translator",
                              hint=f"set [router] translator to one of: {names}, or leave it out for the fallback")
        for council in self.router.councils:
            if unknown := [name for name in council.experts if name not in seen]:
                raise ConfigError(f"measured council '{council.kind}' names {', '.join(unknown)}, not an expert",
                                  field="councils", hint=f"list experts from: {names}")
            if len(set(council.experts)) != len(council.experts):
                raise ConfigError(f"measured council '{council.kind}' names an expert twice", field="councils",
                                  hint="list each expert once")
        if len({c.kind for c in self.router.councils}) != len(self.router.councils):
            raise ConfigError("two [[router.councils]] share a kind", field="councils", hint="give each kind one council")
        if self.debate.synthesizer not in seen:
            raise ConfigError(f"synthesizer '{self.debate.synthesizer}' is not an expert", field="synthesizer",
                              hint=f"set [debate] synthesizer to one of: {names}")
        return self

    def expert(self, name: str) -> ExpertSpec:
        """Return an expert by name; UnknownExpertError (listing the valid names) if there is none."""
        for spec in self.experts:
            if spec.name == name:
                return spec
        raise UnknownExpertError(name, self.expert_names)

    @property
    def translator(self) -> ExpertSpec:
        """The expert whose model translates questions for the router: `[router] translator`, else the fallback."""
        return self.expert(self.router.translator or self.router.fallback)

    @property
    def expert_names(self) -> list[str]:
        """Names of the configured experts, in file order."""
        return [e.name for e in self.experts]


def parse_size(text: str) -> int:
    """Parse '600MiB', '2GB', '1.5GiB' or a plain number of bytes."""
    match = _SIZE.match(str(text))
    if not match:
        raise ConfigError(f"cannot read size '{text}'", hint="write it like 600MiB, 2GiB or 800000000")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "b").lower()])


def council_text(name: str = DEFAULT_COUNCIL) -> str:
    """The TOML text of a shipped council."""
    if name not in SHIPPED_COUNCILS:
        raise ConfigError(f"unknown council '{name}'",
                          hint=f"use one of: {', '.join(SHIPPED_COUNCILS)}, or --config FILE for your own")
    return resources.files("livemind").joinpath("councils", f"{name}.toml").read_text(encoding="utf-8")


def load_config(path: Path | None, catalog: ModelLookup, *, council: str = DEFAULT_COUNCIL,
                check_files: bool = True) -> LiveMindConfig:
    """Read, validate and return a configuration: the file at `path`, else the shipped `council`."""
    if path is None:
        text, origin = council_text(council), f"the shipped council '{council}'"
    else:
        if not path.is_file():
            raise ConfigError(f"configuration file not found: {path}", hint="pass --config with an existing TOML file")
        text, origin = path.read_text(encoding="utf-8"), str(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {exc}", hint="fix the syntax at the line given") from exc
    return parse_config(raw, catalog, check_files=check_files, origin=origin)


def parse_config(raw: dict[str, Any], catalog: ModelLookup, *, check_files: bool = True,
                 origin: str = "config") -> LiveMindConfig:
    """Validate a parsed TOML document."""
    experts_raw = raw.get("experts")
    if not isinstance(experts_raw, list) or not experts_raw:
        raise ConfigError(f"{origin} has no [[experts]]", hint="define at least one [[experts]] table")
    experts = []
    for index, item in enumerate(experts_raw):
        spec = _parse_expert(item, index)
        _check_expert(spec, catalog, check_files=check_files)
        experts.append(spec)
    pool_raw = dict(raw.get("pool", {}))
    if "budget" in pool_raw:
        pool_raw["budget_bytes"] = parse_size(pool_raw.pop("budget"))
    try:
        return LiveMindConfig(experts=tuple(experts), pool=PoolSettings(**pool_raw),
                              router=RouterSettings(**raw.get("router", {})),
                              debate=DebateSettings(**raw.get("debate", {})))
    except ValidationError as exc:
        raise ConfigError(_explain(exc), hint="see the [pool], [router] and [debate] fields in the README") from exc


def _explain(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    return f"field '{field}': {first['msg']} (got {first.get('input')!r})"


def _parse_expert(item: Any, index: int) -> ExpertSpec:
    if not isinstance(item, dict):
        raise ConfigError(f"experts[{index}] is not a table", hint="write each expert as an [[experts]] table")
    name = str(item.get("name", f"experts[{index}]"))
    data = dict(item)
    try:
        if "sampling" in data:
            data["sampling"] = SamplingSettings(**data["sampling"])
        if "engine" in data:
            data["engine"] = EngineSettings(**data["engine"])
        if "remote" in data:
            data["remote"] = RemoteSpec(**data["remote"])
        if "examples" in data:
            data["examples"] = tuple(data["examples"])
        return ExpertSpec(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        hint = "fix the value in the expert's table"
        if field.endswith("kv_type") or first["loc"][-1] == "kv_type":
            hint = "kv_type must be one of f16, q8_0, q4_0"
            if str(first.get("input", "")).lower().startswith("fp8"):
                hint += ('; llama.cpp has no FP8 KV cache on CPU: q8_0 is its 8-bit cache (about half of f16, '
                         'as FP8 is), so write kv_type = "q8_0"')
        raise ConfigError(f"{first['msg']} (got {first.get('input')!r})", expert=name, field=field, hint=hint) from exc
    except TypeError as exc:
        raise ConfigError(str(exc), expert=name, hint="fix the expert's table") from exc


def _check_expert(spec: ExpertSpec, catalog: ModelLookup, *, check_files: bool) -> None:
    """The model exists (catalog, path or hub reference): a check on the machine, not on the data."""
    if spec.remote is not None or spec.model.startswith(HUB_PREFIX):
        return
    if catalog.is_catalog_name(spec.model):
        if check_files:
            try:
                catalog.resolve(spec.model)
            except ModelError as exc:
                raise ConfigError(exc.message, expert=spec.name, field="model",
                                  hint=exc.hint or "run `livemind models pull`") from exc
        return
    path = Path(spec.model).expanduser()
    if path.suffix != ".gguf" and not path.exists():
        names = ", ".join(info.name for info in catalog.list() if info.kind == "gguf")
        raise ConfigError(f"unknown model '{spec.model}'", expert=spec.name, field="model",
                          hint=f"use a catalog model ({names}), a path to a .gguf file, or hf:owner/repo/file.gguf")
    if check_files and not path.is_file():
        raise ConfigError(f"model file missing: {path}", expert=spec.name, field="model",
                          hint="fix the path, or run `livemind models pull` for catalog models")
