"""A question in another language is routed like its English version, and answered in its own language.

The wiring runs on fakes at the seams (a scripted translator or a scripted backend and the hash
embedder); the last tests use the real embedder and the default council's real model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livemind.config import LiveMindConfig, RouterSettings
from livemind.council.language import (
    MAX_TRANSLATION_TOKENS,
    ROUTING_CHARS,
    TRANSLATION_SYSTEM,
    RoutingPivot,
    clean_translation,
    detect_language,
    routing_part,
    routing_pivot,
    translation_budget,
)
from livemind.council.router import COUNCIL_MIN_EXPERTS, Router
from livemind.engine.backends.base import LoadTarget
from livemind.engine.ram import MemoryReading
from livemind.errors import TranslationUnavailable
from livemind.events import RouteEvent, result_of
from livemind.orchestrator import LiveMind
from livemind.types import ExpertSpec, GenerationRequest
from tests.support.fakes import HashEmbedder, ScriptedLoader
from tests.support.faults import fault_config
from tests.support.minds import open_mind, stubborn
from tests.support.servers import REPO

QUESTIONS = json.loads((REPO / "tests" / "fixtures" / "multilingual_questions.json").read_text("utf-8"))["questions"]
SPANISH = "¿Qué opinas del segundo tema que hablamos ayer por la tarde?"
ENGLISH = "a question about beta"  # what the fakes "translate" SPANISH to: beta's example, word for word
FOUNDING_ES = "¿Puede el ser humano ser reemplazado por IA en 20 años?"


class ScriptedTranslator:
    """Translates from a table and records what it was asked; raises what it is told to."""

    def __init__(self, table: dict[str, str], *, failure: Exception | None = None) -> None:
        self.table = table
        self.failure = failure
        self.asked: list[str] = []

    def translate(self, text: str) -> str:
        self.asked.append(text)
        if self.failure is not None:
            raise self.failure
        return self.table[text]


def _experts() -> list[ExpertSpec]:
    return [ExpertSpec(name=name, model="m", persona=f"You are {name}.", description=f"{name} topics",
                       examples=(f"a question about {name}",)) for name in ("alpha", "beta", "gamma")]


def _router(translator: ScriptedTranslator | None) -> Router:
    pivot = RoutingPivot(translator) if translator is not None else None
    return Router(_experts(), HashEmbedder(), RouterSettings(fallback="alpha"), pivot=pivot)


def test_an_english_question_is_routed_as_written_and_never_translated() -> None:
    translator = ScriptedTranslator({})
    decision = _router(translator).route("a question about gamma", mode="single")
    assert decision.selected == ("gamma",) and translator.asked == []
    assert decision.language == "en" and decision.routed_on is None and "translation" not in decision.reason


def test_a_spanish_question_is_scored_on_its_translation_and_the_decision_says_so() -> None:
    as_written = _router(None).route(SPANISH, mode="single")
    assert as_written.selected == ("alpha",) and "fallback" in as_written.reason, "no Spanish word matches an expert"
    translator = ScriptedTranslator({SPANISH: ENGLISH})
    decision = _router(translator).route(SPANISH, mode="single")
    assert translator.asked == [SPANISH]
    assert decision.selected == ("beta",) and decision.language == "es" and decision.routed_on == ENGLISH
    assert f"question in es routed on its English translation “{ENGLISH}”" in decision.reason


def test_a_failed_translation_routes_the_question_as_written_and_says_why() -> None:
    failing = ScriptedTranslator({}, failure=TranslationUnavailable("RAM is tight"))
    decision = _router(failing).route(SPANISH, mode="auto", min_experts=COUNCIL_MIN_EXPERTS)
    assert decision.selected == _router(None).route(SPANISH, mode="auto", min_experts=COUNCIL_MIN_EXPERTS).selected
    assert decision.routed_on is None and decision.language == "es"
    assert "routed as written (no translation: RAM is tight)" in decision.reason


def test_a_translation_that_is_not_english_is_not_used() -> None:
    echo = ScriptedTranslator({SPANISH: SPANISH})
    decision = _router(echo).route(SPANISH, mode="single")
    assert decision.routed_on is None and decision.selected == ("alpha",)
    assert "is not English" in decision.reason


def test_experts_named_by_the_caller_need_no_translation() -> None:
    translator = ScriptedTranslator({SPANISH: ENGLISH})
    decision = _router(translator).route(SPANISH, experts=["gamma"])
    assert decision.selected == ("gamma",) and translator.asked == []


def test_the_detector_reads_the_question_set_and_keeps_technical_english_as_written() -> None:
    for item in QUESTIONS:
        assert detect_language(item["en"]).language == "en", item["en"]
        for lang in ("es", "fr", "de"):
            assert detect_language(item[lang]).language == lang, item[lang]
    for text in ("Hi", "Explain TCP vs UDP.", "What is 4+7*12+3-5*9?", "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON",
                 "def f(x): return x*2  # why is this slow?"):
        assert detect_language(text).language == "en", text


@pytest.mark.parametrize(("reply", "lines", "expected"), [
    ("What is 15% of 240?", 1, "What is 15% of 240?"),
    ("Translation: What is 15% of 240?", 1, "What is 15% of 240?"),
    ("English:\n“Who painted the Mona Lisa?”\nThe Mona Lisa was painted by...", 1, "Who painted the Mona Lisa?"),
    ("Fix this.\nIt fails on line 3.\nExtra commentary", 2, "Fix this.\nIt fails on line 3."),
])
def test_a_reply_is_cut_to_the_translation(reply: str, lines: int, expected: str) -> None:
    assert clean_translation(reply, lines=lines) == expected


def test_a_long_question_is_translated_from_its_start_within_a_bounded_budget() -> None:
    long = "palabra " * 500
    assert len(routing_part(long)) <= ROUTING_CHARS and routing_part(long).endswith("palabra")
    assert routing_part("¿Corta?") == "¿Corta?"
    assert translation_budget(long) == MAX_TRANSLATION_TOKENS and translation_budget("¿Corta?") < MAX_TRANSLATION_TOKENS


# -- wiring through LiveMind (scripted backend, hash embedder) ----------------------------------


class TranslatingScript:
    """The scripted model: translates the router's request, answers every other one like `stubborn`."""

    def __init__(self) -> None:
        self.translations = 0
        self.answer_prompts: list[str] = []

    def __call__(self, target: LoadTarget, request: GenerationRequest) -> str:
        if request.messages[0].content == TRANSLATION_SYSTEM:
            self.translations += 1
            return ENGLISH
        self.answer_prompts.append(request.messages[-1].content)
        return stubborn(target, request)


def _mind(tmp_path: Path, script: TranslatingScript, **router: object) -> LiveMind:
    config = fault_config(tmp_path)
    if router:
        config = config.model_copy(update={"router": config.router.model_copy(update=router)})
    return open_mind(tmp_path, config, ScriptedLoader(script))


def test_ask_routes_on_the_translation_but_the_expert_answers_the_original_question(tmp_path: Path) -> None:
    script = TranslatingScript()
    mind = _mind(tmp_path, script)
    try:
        answer = mind.ask(SPANISH, max_tokens=8)
        english = mind.route("a question about gamma", mode="single")
    finally:
        mind.close()
    assert answer.expert == "beta" and answer.routing is not None and answer.routing.routed_on == ENGLISH
    assert script.answer_prompts and all(SPANISH in p and ENGLISH not in p for p in script.answer_prompts)
    assert english.selected == ("gamma",) and script.translations == 1, "an English question is not translated"


def test_a_council_in_the_graph_routes_on_the_translation_and_debates_the_original(tmp_path: Path) -> None:
    script = TranslatingScript()
    mind = _mind(tmp_path, script)
    try:
        events = list(mind.stream(SPANISH, rounds=0))
        again = mind.route(SPANISH, is_council=True)
    finally:
        mind.close()
    route = next(e for e in events if isinstance(e, RouteEvent))
    result = result_of(events[-1])
    assert route.routed_on == ENGLISH and "routed on its English translation" in route.reason
    assert result is not None and result.routing.routed_on == ENGLISH and result.question == SPANISH
    assert "beta" in result.routing.selected and all(SPANISH in p for p in script.answer_prompts)
    assert again.routed_on == ENGLISH and script.translations == 1, "a question routed twice is translated once"


def test_translation_off_routes_every_question_as_written(tmp_path: Path) -> None:
    script = TranslatingScript()
    mind = _mind(tmp_path, script, translate_for_routing="off")
    try:
        decision = mind.route(SPANISH, mode="single")
    finally:
        mind.close()
    assert routing_pivot(mind.config, mind.runner) is None
    assert decision.routed_on is None and decision.language is None and script.translations == 0


def _fill_ram(mind: LiveMind, percent: float) -> None:
    real = mind.pool.guard.read()
    full = MemoryReading(total=real.total, used=int(real.total * percent / 100), available=int(real.total * (1 - percent / 100)),
                         source="test")
    mind.pool.guard._reader = lambda: full


def test_with_ram_tight_an_unloaded_translator_is_not_loaded_and_the_question_is_routed_as_written(tmp_path: Path) -> None:
    script = TranslatingScript()
    mind = _mind(tmp_path, script)
    try:
        _fill_ram(mind, 95)
        decision = mind.route(SPANISH, mode="single")
        loaded = mind.status().loaded
    finally:
        mind.close()
    assert decision.routed_on is None and decision.language == "es" and decision.selected == ("alpha",)
    assert "no translation: the model a is not loaded and RAM is tight" in decision.reason
    assert loaded == () and script.translations == 0, "routing loaded nothing"


def test_with_ram_tight_a_loaded_translator_still_translates(tmp_path: Path) -> None:
    script = TranslatingScript()
    mind = _mind(tmp_path, script)
    try:
        mind.ask("warm up", expert="alpha", max_tokens=4)  # alpha, the fallback and so the translator: model a
        _fill_ram(mind, 95)
        decision = mind.route(SPANISH, mode="single")
    finally:
        mind.close()
    assert decision.routed_on == ENGLISH and decision.selected == ("beta",)


# -- the real embedder and the default council's real model --------------------------------------

# one question per expert, as the English version routes it: coder, mathematician, ethicist, futurist, generalist
REAL_CASES = [QUESTIONS[i] for i in (0, 4, 7, 8, 11)]


@pytest.mark.slow
def test_spanish_and_french_questions_are_routed_like_their_english_versions_on_the_default_council(
        home: Path, capable_config: LiveMindConfig) -> None:
    mind = LiveMind(capable_config, home=home)
    try:
        for item in REAL_CASES:
            english_ask = mind.route(item["en"], mode="single").selected
            english_council = set(mind.route(item["en"], is_council=True).selected)
            for lang in ("es", "fr"):
                council = mind.route(item[lang], is_council=True)
                assert council.routed_on and council.language == lang, council.reason
                assert set(council.selected) == english_council, (item[lang], council.routed_on, council.reason)
                assert mind.route(item[lang], mode="single").selected == english_ask, (item[lang], council.routed_on)
        founding = mind.route(FOUNDING_ES, is_council=True)
        answer = mind.ask(FOUNDING_ES, max_tokens=48, seed=1)
    finally:
        mind.close()
    assert set(founding.selected) == {"ethicist", "futurist"}, founding.reason
    assert answer.routing is not None and answer.routing.routed_on and answer.expert in founding.selected
    assert detect_language(answer.answer).language == "es", answer.answer
