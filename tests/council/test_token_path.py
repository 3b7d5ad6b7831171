"""A token's way from the engine to the caller of the graph's stream: how many threads carry it, and whether it
arrives once.

The compiled graph runs for real (LangGraph's `messages` stream mode, the scheduler's lane threads, the
checkpointer); the models are scripts (tests.fakes) whose every word is a unique marker. A profile hook on
every thread records which threads' Python code holds a marker, from the thread that decodes it to the one
that reads `LiveMind.stream`.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from livemind.engine.backends.base import LoadTarget
from livemind.events import DebateEvent, ResultEvent, SynthesisToken, TokenEvent
from livemind.types import GenerationRequest
from tests.support.minds import is_synthesis, scripted, speaker

WORDS_PER_ANSWER = 6
MAX_THREADS_PER_TOKEN = 2  # the decoding thread and the consumer's: one hand-off


def marked_script() -> tuple[set[str], object]:
    """A script whose every word is new (so experts disagree and the synthesiser speaks), and the pieces it streams."""
    counter = itertools.count()
    pieces: set[str] = set()
    lock = threading.Lock()

    def script(target: LoadTarget, request: GenerationRequest) -> str:
        who = "synthesis" if is_synthesis(request) else speaker(request)
        with lock:
            words = [f"{who}{next(counter)}mark" for _ in range(WORDS_PER_ANSWER)]
        pieces.update([words[0], *(" " + w for w in words[1:])])  # ScriptedBackend streams " word" after the first
        return " ".join(words)

    return pieces, script


@contextmanager
def threads_touching(markers: set[str]) -> Iterator[dict[str, set[int]]]:
    """Record, for each marker string, the threads whose Python code held it in a frame's locals."""
    seen: dict[str, set[int]] = defaultdict(set)

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        if event != "call":
            return
        for value in frame.f_locals.values():
            if type(value) is str and value in markers:
                seen[value].add(threading.get_ident())
            elif type(value) is tuple:
                for item in value:
                    if type(item) is str and item in markers:
                        seen[item].add(threading.get_ident())

    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        yield seen
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]


def run_council(tmp_path: Path) -> tuple[list[DebateEvent], dict[str, set[int]], set[str]]:
    pieces, script = marked_script()
    mind, _ = scripted(tmp_path, script)  # type: ignore[arg-type]
    try:
        with threads_touching(pieces) as seen:
            events = list(mind.stream("which way?", experts=["alpha", "beta"], rounds=0, mode="parallel",
                                      strategy="debate"))
    finally:
        mind.close()
    return events, dict(seen), pieces


def test_each_token_crosses_at_most_one_thread_hand_off_from_the_decoder_to_the_stream_reader(tmp_path: Path) -> None:
    events, seen, pieces = run_council(tmp_path)
    streamed = [e.text for e in events if isinstance(e, TokenEvent | SynthesisToken)]
    assert set(streamed) == pieces, "every decoded piece reached the reader"
    consumer = threading.get_ident()
    widest = max(len(threads) for threads in seen.values())
    assert widest <= MAX_THREADS_PER_TOKEN, f"a token passed through {widest} threads, {widest - 1} hand-offs"
    assert all(consumer in seen[p] for p in pieces), "the reader's own thread is one of them"


def test_streamed_tokens_add_up_to_each_answer_exactly_once(tmp_path: Path) -> None:
    events, _, _ = run_council(tmp_path)
    by_answer: dict[tuple[str, int], str] = defaultdict(str)
    for event in events:
        if isinstance(event, TokenEvent):
            by_answer[(event.expert, event.round)] += event.text
    synthesis = "".join(e.text for e in events if isinstance(e, SynthesisToken))
    result = next(e.result for e in events if isinstance(e, ResultEvent))
    assert {(p.expert, p.round): p.text for p in result.positions} == dict(by_answer)
    assert result.synthesizer == "alpha" and synthesis == result.answer
