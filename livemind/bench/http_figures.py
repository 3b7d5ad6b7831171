"""HTTP time to first token: `livemind serve` against `python -m llama_cpp.server` and `llama-server`.

The servers run at once on the loopback: LiveMind, `llama_cpp.server` with LiveMind's engine
settings and `logits_all` off (the fair peer: the same work per token), the same server as its
defaults leave it (what a user who just starts it gets, labelled so), and, when
`python3 -m native.llama_server` has built it from the engine wheel's own llama.cpp source,
llama.cpp's `llama-server`, matched and with its defaults. Requests rotate between them, one at a
time, after a warm-up request each (the model loads on LiveMind's first request). All are asked
for the same expert prompt: LiveMind builds it from the question, the peers receive it as
messages. Every server inherits the bench's environment, so all run the same OpenMP wait policy.

Every measured request is a question no server has seen: each run numbers the questions at their
start ("[2.3] ..."), so a server can reuse the expert's system prompt from its last request but
never a whole earlier prompt. llama-server keeps finished prompts in RAM (its prompt cache) and
answers a repeat from them; that is a real gain for a question asked again, so it is measured on
its own: after the first run's questions, each server is asked the same question once more.
The headline ratio is LiveMind's median TTFT over the fair peer's, on new questions.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livemind_native.home import default_home
from livemind_native.llama_server import build_command, find_server

from livemind.bench.peers import (
    free_port,
    livemind_server_command,
    llama_cpp_server_command,
    llama_server_command,
    running_server,
    stream_chat,
)
from livemind.bench.prompts import SINGLE_EXPERT
from livemind.bench.stats import ratio, summarize
from livemind.bench.workbench import Workbench
from livemind.council.prompts import first_answer_messages
from livemind.errors import LiveMindError
from livemind.types import ExpertSpec

WARM_UP_QUESTION = "Say hello."
PEER = "llama_cpp.server"
DEFAULT_PEER = "llama_cpp.server (defaults)"
LLAMA_SERVER = "llama-server"
DEFAULT_LLAMA_SERVER = "llama-server (defaults)"


def llama_server_binary(bench: Workbench) -> Path | None:
    """The llama-server built like this venv's engine: in the bench's home, else the user's default home."""
    venv = Path(sys.prefix)
    for home in dict.fromkeys((bench.home, default_home(os.environ), Path.home() / ".cache" / "livemind")):
        found = find_server(home, venv)
        if found is not None:
            return found
    return None


def _scratch_home(bench: Workbench) -> Path:
    home = bench.scratch / "serve-home"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(bench.catalog.models_dir, target_is_directory=True)
    return home


@dataclass
class _Rotation:
    """What the rotated requests measured, per server."""

    ttft: dict[str, list[float]]
    totals: dict[str, list[float]]
    repeat_ttft: dict[str, list[float]] = field(default_factory=dict)  # the same question again, right after
    stages: dict[str, list[float]] = field(default_factory=dict)  # LiveMind's own account, per stage
    identical: int = 0


def _request_body(bench: Workbench, spec: ExpertSpec, name: str, prompt_index: int, max_tokens: int,
                  run: int = 0) -> dict[str, object]:
    """LiveMind gets the question and builds the expert prompt; the peers get that prompt as messages.

    The run's number opens the question, so no run repeats an earlier run's prompt.
    """
    question = f"[{run + 1}.{prompt_index + 1}] {bench.prompts[prompt_index]}" if prompt_index >= 0 else WARM_UP_QUESTION
    seed = bench.seed(max(prompt_index, 0), spec.name)
    if name == "livemind":
        return {"model": spec.name, "max_tokens": max_tokens, "seed": seed,
                "messages": [{"role": "user", "content": question}]}
    s = spec.sampling
    return {"model": "peer", "max_tokens": max_tokens, "seed": seed, "temperature": s.temperature, "top_p": s.top_p,
            "top_k": s.top_k, "repeat_penalty": s.repeat_penalty,
            "messages": [{"role": m.role, "content": m.content} for m in first_answer_messages(spec, question)]}


def _rotate(bench: Workbench, spec: ExpertSpec, bases: dict[str, str]) -> _Rotation:
    """Every prompt to every server, one request at a time, each server going first as often."""
    names = list(bases)
    measured = _Rotation(ttft={name: [] for name in names}, totals={name: [] for name in names})
    for name in names:  # warm: LiveMind loads the model on its first request; another question,
        stream_chat(bases[name], _request_body(bench, spec, name, -1, 2))  # so the first measured one reads its prompt
    for run in range(bench.options.runs):
        for i in range(len(bench.prompts)):
            shift = (run * len(bench.prompts) + i) % len(names)
            order = names[shift:] + names[:shift]
            texts = {}
            for name in order:
                timing = stream_chat(bases[name], _request_body(bench, spec, name, i, bench.options.max_tokens, run))
                measured.ttft[name].append(timing.ttft_s)
                measured.totals[name].append(timing.total_s)
                for stage, seconds in timing.stages.items() if name == "livemind" else ():
                    measured.stages.setdefault(stage, []).append(seconds)
                texts[name] = timing.text
            measured.identical += texts["livemind"] == texts[PEER]
            for name in order if run == 0 else ():  # the same question again: what a prompt cache gives
                again = stream_chat(bases[name], _request_body(bench, spec, name, i, bench.options.max_tokens, run))
                measured.repeat_ttft.setdefault(name, []).append(again.ttft_s)
    return measured


def http_ttft(bench: Workbench) -> dict[str, Any]:
    """Median TTFT of each server over the same prompts and seeds; the ratio is LiveMind over the matched peer."""
    spec = bench.spec(SINGLE_EXPERT)
    target = bench.target(spec)
    path, chat_format = target.path, target.chat_format
    ports = {name: free_port() for name in ("livemind", PEER, DEFAULT_PEER, LLAMA_SERVER, DEFAULT_LLAMA_SERVER)}
    commands = {
        "livemind": livemind_server_command(_scratch_home(bench), ports["livemind"], bench.config_path),
        PEER: llama_cpp_server_command(path, spec.engine, chat_format, ports[PEER]),  # type: ignore[arg-type]
        DEFAULT_PEER: llama_cpp_server_command(path, spec.engine, chat_format, ports[DEFAULT_PEER],  # type: ignore[arg-type]
                                               matched=False),
    }
    binary = llama_server_binary(bench)
    if binary is not None:
        commands[LLAMA_SERVER] = llama_server_command(binary, path, spec.engine, ports[LLAMA_SERVER])  # type: ignore[arg-type]
        commands[DEFAULT_LLAMA_SERVER] = llama_server_command(binary, path, spec.engine,  # type: ignore[arg-type]
                                                              ports[DEFAULT_LLAMA_SERVER], matched=False)
    with ExitStack() as stack:
        bases: dict[str, str] = {}
        for name, command in commands.items():
            try:
                bases[name] = stack.enter_context(running_server(command, ports[name],
                                                                 timeout_s=bench.options.server_timeout_s,
                                                                 log_path=bench.scratch / f"{name}.log"))
            except LiveMindError as exc:
                return {"ratio": None, "reason": f"{name} could not be started: {exc.message} ({exc.hint})"}
        try:
            measured = _rotate(bench, spec, bases)
        except LiveMindError as exc:
            return {"ratio": None, "reason": f"a request failed: {exc.message}"}
    ttft, totals = measured.ttft, measured.totals
    lm, peer, default = (summarize(ttft[name]) for name in ("livemind", PEER, DEFAULT_PEER))
    # One ratio per rotation (the same prompt to each server), so the ratio has its own spread.
    paired = [a / b for a, b in zip(ttft["livemind"], ttft[PEER], strict=True) if b > 0]
    out = {"ratio": ratio(lm.median, peer.median), "ratio_per_request": summarize(paired).as_dict(3),
           "ratio_vs_default_peer": ratio(lm.median, default.median),
           "livemind_ttft_s": lm.as_dict(), "peer_ttft_s": peer.as_dict(), "default_peer_ttft_s": default.as_dict(),
           "livemind_total_s": summarize(totals["livemind"]).as_dict(),
           "peer_total_s": summarize(totals[PEER]).as_dict(), "identical_texts": measured.identical,
           "livemind_stages_ms": {stage: summarize([x * 1000 for x in values]).as_dict(2)
                                  for stage, values in measured.stages.items()},
           "requests": len(ttft["livemind"]), "peer": "llama_cpp.server, LiveMind's engine settings, logits_all off",
           "default_peer": "llama_cpp.server with its own defaults (logits_all on, its threads, f16 KV)",
           "others": _other_peers(measured, [name for name in bases if name not in ("livemind", PEER, DEFAULT_PEER)]),
           "repeated_question_ttft_s": {name: summarize(values).as_dict() for name, values in measured.repeat_ttft.items()},
           "questions": "each measured request a question no server had seen (numbered at its start); "
                        "repeated_question_ttft_s: the first run's questions asked again at once"}
    if binary is None:
        out["llama_server"] = f"not measured: no llama-server built for this engine yet ({build_command(Path(sys.prefix))})"
    else:
        out["llama_server"] = str(binary)
    return out


def _other_peers(measured: _Rotation, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per further peer: its TTFT and total time, and LiveMind's median TTFT over its, per request too."""
    lm = measured.ttft["livemind"]
    out = {}
    for name in names:
        mine = measured.ttft[name]
        out[name] = {"ttft_s": summarize(mine).as_dict(), "total_s": summarize(measured.totals[name]).as_dict(),
                     "livemind_over_it": ratio(summarize(lm).median, summarize(mine).median),
                     "per_request": summarize([a / b for a, b in zip(lm, mine, strict=True) if b > 0]).as_dict(3),
                     "settings": "LiveMind's context, threads, batch, flash attention and KV type; one slot"
                     if "defaults" not in name else "only the model: the server's own defaults"}
    return out
