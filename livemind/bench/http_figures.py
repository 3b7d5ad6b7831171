"""HTTP time to first token: `livemind serve` against `python -m llama_cpp.server` on the same model.

Both servers run at once on the loopback; requests alternate between them, one at a time, after
a warm-up request each (the model loads on LiveMind's first request). Both are asked for the
same expert prompt: LiveMind builds it from the question, the peer receives it as messages.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from livemind.bench.peers import (
    free_port,
    livemind_server_command,
    llama_cpp_server_command,
    running_server,
    stream_chat,
)
from livemind.bench.prompts import SINGLE_EXPERT
from livemind.bench.stats import ratio, summarize
from livemind.bench.workbench import Workbench
from livemind.council.prompts import first_answer_messages
from livemind.errors import LiveMindError

WARM_UP_QUESTION = "Say hello."


def _scratch_home(bench: Workbench) -> Path:
    home = bench.scratch / "serve-home"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(bench.catalog.models_dir, target_is_directory=True)
    return home


def http_ttft(bench: Workbench) -> dict[str, Any]:
    """Mean TTFT of each server over the same prompts and seeds; the ratio is LiveMind over the peer."""
    spec = bench.spec(SINGLE_EXPERT)
    target = bench.target(spec)
    lm_port, peer_port = free_port(), free_port()
    commands = {
        "livemind": (livemind_server_command(_scratch_home(bench), lm_port, bench.config_path), lm_port),
        "llama_cpp.server": (llama_cpp_server_command(target.path, spec.engine, target.chat_format, peer_port),  # type: ignore[arg-type]
                             peer_port),
    }
    ttft: dict[str, list[float]] = {"livemind": [], "llama_cpp.server": []}
    totals: dict[str, list[float]] = {"livemind": [], "llama_cpp.server": []}
    identical = 0
    with ExitStack() as stack:
        bases: dict[str, str] = {}
        for name, (command, port) in commands.items():
            try:
                bases[name] = stack.enter_context(running_server(command, port, timeout_s=bench.options.server_timeout_s,
                                                                 log_path=bench.scratch / f"{name}.log"))
            except LiveMindError as exc:
                return {"ratio": None, "reason": f"{name} could not be started: {exc.message} ({exc.hint})"}

        def ask(name: str, prompt_index: int, max_tokens: int) -> Any:
            question = bench.prompts[prompt_index] if prompt_index >= 0 else WARM_UP_QUESTION
            seed = bench.seed(max(prompt_index, 0), spec.name)
            if name == "livemind":
                body: dict[str, object] = {"model": spec.name, "max_tokens": max_tokens, "seed": seed,
                                           "messages": [{"role": "user", "content": question}]}
            else:
                s = spec.sampling
                body = {"model": "peer", "max_tokens": max_tokens, "seed": seed, "temperature": s.temperature,
                        "top_p": s.top_p, "top_k": s.top_k, "repeat_penalty": s.repeat_penalty,
                        "messages": [{"role": m.role, "content": m.content}
                                     for m in first_answer_messages(spec, question)]}
            return stream_chat(bases[name], body)

        try:
            for name in bases:  # warm: LiveMind loads the model on its first request; another question,
                ask(name, -1, 2)  # so the first measured request reads its prompt and the repeat finds it cached
            for run in range(bench.options.runs):
                for i in range(len(bench.prompts)):
                    order = list(bases) if run % 2 == 0 else list(reversed(bases))
                    texts = {}
                    for name in order:
                        timing = ask(name, i, bench.options.max_tokens)
                        ttft[name].append(timing.ttft_s)
                        totals[name].append(timing.total_s)
                        texts[name] = timing.text
                    identical += texts["livemind"] == texts["llama_cpp.server"]
        except LiveMindError as exc:
            return {"ratio": None, "reason": f"a request failed: {exc.message}"}
    lm, peer = summarize(ttft["livemind"]), summarize(ttft["llama_cpp.server"])
    return {"ratio": ratio(lm.mean, peer.mean), "livemind_ttft_s": lm.as_dict(), "peer_ttft_s": peer.as_dict(),
            "livemind_total_s": summarize(totals["livemind"]).as_dict(),
            "peer_total_s": summarize(totals["llama_cpp.server"]).as_dict(), "identical_texts": identical,
            "requests": len(ttft["livemind"])}
