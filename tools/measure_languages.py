"""How a question in Spanish, French or German is routed, against its English version: the figures behind
`[router] translate_for_routing` (docs/languages.md).

Run: .venv/bin/python tools/measure_languages.py [--councils default,tiny] [--out docs/languages.md]
     (PYTHONPATH=DIR adds lingua-language-detector to the detector table if it is installed in DIR)

For each council, the ground truth of a question is how the router routes its English version:
the expert `ask` picks (mode single) and the set a debate convenes (auto, at least two). Each
translation of it (tests/fixtures/multilingual_questions.json) is routed three ways:
- raw: as written (what LiveMind did before);
- pivot: on its English translation by the council's translator model (greedy, through the
  product's runner and pool), when the detector says it is not English;
- max: every expert's score is the better of the two texts' scores.
Then: the detectors on English texts (questions, persona texts, the eval's prompts) and others,
the added latency (detection per question, translation per question with the model loaded), and
the founding question's answer language (the answer must come back in Spanish).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.metadata import version
from pathlib import Path

from livemind.config import SHIPPED_COUNCILS
from livemind.council.embeddings import Embedder
from livemind.council.language import DETECTOR, LanguageDetector, ModelTranslator, RoutingPivot, detect_language
from livemind.council.router import COUNCIL_MIN_EXPERTS, Router
from livemind.evaluation.tasks import generate_problems
from livemind.orchestrator import DEFAULT_HOME, LiveMind
from livemind.types import RouteScore

LANGUAGES = ("es", "fr", "de")
METHODS = ("raw", "pivot", "max")
FOUNDING_ES = "¿Puede el ser humano ser reemplazado por IA en 20 años?"
# Texts outside the question set: short, technical and mixed English, and other languages.
MORE_ENGLISH = ("Hi", "warm up", "Explain TCP vs UDP.", "Sort a list in Python", "What is 2 plus 2?",
                "What is 4+7*12+3-5*9?", "Is Rust faster than Go?", "def f(x): return x*2  # why is this slow?")
MORE_OTHERS = (("it", "Gli esseri umani possono essere sostituiti dall'intelligenza artificiale entro 20 anni?"),
               ("pt", "Os seres humanos podem ser substituídos pela IA em 20 anos?"), ("es", "¿Qué es 2 más 2?"),
               ("fr", "Bonjour, ça va ?"), ("es", "Hola"), ("de", "Was ist 4+7*12+3-5*9?"))


@dataclass(frozen=True)
class Routing:
    """Who answers (`ask`) and who sits in a debate."""

    top: str
    council: frozenset[str]


@dataclass
class Tally:
    """Agreement of one method in one language with the English routing."""

    top: int = 0
    council: int = 0
    n: int = 0
    misses: list[str] = field(default_factory=list)


class MaxRouter(Router):
    """Scores a question by the better of itself and its translation, expert by expert (method `max`)."""

    def __init__(self, base: Router, embedder: Embedder, translations: dict[str, str]) -> None:
        super().__init__(base.experts, embedder, base.settings)
        self.translations = translations

    def score(self, question: str) -> tuple[RouteScore, ...]:
        """Each expert's better score over the question and its translation."""
        as_written = super().score(question)
        translation = self.translations.get(question)
        if translation is None:
            return as_written
        other = {s.expert: s for s in super().score(translation)}
        best = [s if s.score >= other[s.expert].score else other[s.expert] for s in as_written]
        return tuple(sorted(best, key=lambda s: s.score, reverse=True))


def routing_of(router: Router, question: str) -> Routing:
    """The routing a user sees: `ask`'s single expert and a debate's council."""
    return Routing(top=router.route(question, mode="single").selected[0],
                   council=frozenset(router.route(question, mode="auto", min_experts=COUNCIL_MIN_EXPERTS).selected))


def measure_council(council: str, questions: list[dict[str, str]], home: Path) -> dict[str, object]:
    """Agreement per method and language, translation latency and the founding answer's language, for one council."""
    mind = LiveMind.open(home=home, council=council)
    try:
        embedder, config = mind.embedder, mind.config
        raw = Router(config.experts, embedder, config.router, cache_dir=home / "cache")
        pivot = RoutingPivot(ModelTranslator(mind.runner, config.translator))
        raw.warm()
        pivot.warm()
        start = time.perf_counter()
        pivot.routing_text(FOUNDING_ES)  # loads the translator's model: timed apart from the translations
        first_s = time.perf_counter() - start
        translations: dict[str, str] = {}
        translate_ms: list[float] = []
        for item in questions:
            for lang in LANGUAGES:
                start = time.perf_counter()
                text = pivot.routing_text(item[lang]).text
                translate_ms.append((time.perf_counter() - start) * 1000)
                translations[item[lang]] = text
        pivoted = Router(config.experts, embedder, config.router, pivot=RoutingPivot(CachedTranslator(translations)))
        methods: dict[str, Router] = {"raw": raw, "pivot": pivoted, "max": MaxRouter(raw, embedder, translations)}
        tallies = {(m, lang): Tally() for m in METHODS for lang in LANGUAGES}
        for item in questions:
            truth = routing_of(raw, item["en"])
            for lang in LANGUAGES:
                for name, router in methods.items():
                    got = routing_of(router, item[lang])
                    tally = tallies[(name, lang)]
                    tally.n += 1
                    tally.top += got.top == truth.top
                    tally.council += got.council == truth.council
                    if got != truth:
                        tally.misses.append(f"{item[lang]} → {got.top} {sorted(got.council)} "
                                            f"(English: {truth.top} {sorted(truth.council)})")
        answer = mind.ask(FOUNDING_ES, max_tokens=48, seed=1)
        founding = mind.route(FOUNDING_ES, is_council=True)
        return {"council": council, "model": config.translator.model, "tallies": tallies, "translations": translations,
                "translate_ms": translate_ms, "first_translation_s": first_s, "answer": answer.answer,
                "answer_language": detect_language(answer.answer).language, "answer_expert": answer.expert,
                "founding_council": sorted(founding.selected)}
    finally:
        mind.close()


class CachedTranslator:
    """The translations already made: the pivot router re-runs the product's detection, then reuses them."""

    def __init__(self, translations: dict[str, str]) -> None:
        self.translations = translations

    def translate(self, text: str) -> str:
        """The measured translation (the question itself where the model's translation was refused)."""
        return self.translations[text]


def english_texts() -> list[str]:
    """English that must never be translated: the questions, every shipped persona text, the eval's prompts."""
    texts: list[str] = []
    for council in SHIPPED_COUNCILS:
        doc = tomllib.loads(resources.files("livemind").joinpath("councils", f"{council}.toml").read_text("utf-8"))
        for expert in doc["experts"]:
            texts += [expert["description"], *expert.get("examples", ())]
    texts += [p.prompt for task in ("arithmetic", "word") for p in generate_problems(task, 10, 0)]
    return [*texts, *MORE_ENGLISH]


def measure_detectors(questions: list[dict[str, str]]) -> list[dict[str, object]]:
    """Each available detector on English and other texts: how many it gets right, time per text, load time, size."""
    english = [q["en"] for q in questions] + english_texts()
    others = [q[lang] for q in questions for lang in LANGUAGES] + [text for _, text in MORE_OTHERS]
    rows = []
    start = time.perf_counter()
    fresh = LanguageDetector()
    fresh.warm()
    load_s = time.perf_counter() - start
    langid = f"py3langid {version('py3langid')}"
    rows.append(_detector_row(f"{langid}, LiveMind's rule (sure, and 10x likelier than English)", english, others,
                              load_s, lambda t: DETECTOR.detect(t).language == "en", _size_of("py3langid")))
    rows.append(_detector_row(f"{langid}, most likely language", english, others, 0.0,
                              lambda t: DETECTOR.detect(t).best == "en", _size_of("py3langid")))
    try:
        from lingua import Language, LanguageDetectorBuilder  # measured when installed; not a dependency
    except ImportError:
        return rows
    start = time.perf_counter()
    lingua = LanguageDetectorBuilder.from_all_languages().build()
    lingua.detect_language_of("warm up")
    load_s = time.perf_counter() - start
    name = f"lingua-language-detector {version('lingua-language-detector')}, all languages, high accuracy"
    rows.append(_detector_row(name, english, others, load_s,
                              lambda t: lingua.detect_language_of(t) in (Language.ENGLISH, None), _size_of("lingua")))
    return rows


def _detector_row(name: str, english: Sequence[str], others: Sequence[str], load_s: float,
                  is_english: Callable[[str], bool], size_mb: float) -> dict[str, object]:
    start = time.perf_counter()
    wrong_english = [t for t in english if not is_english(t)]
    wrong_others = [t for t in others if is_english(t)]
    per_text_ms = (time.perf_counter() - start) * 1000 / (len(english) + len(others))
    return {"name": name, "english": f"{len(english) - len(wrong_english)}/{len(english)}",
            "others": f"{len(others) - len(wrong_others)}/{len(others)}", "ms": per_text_ms, "load_s": load_s,
            "size_mb": size_mb, "wrong": wrong_english + wrong_others}


def _size_of(module: str) -> float:
    package = Path(__import__(module).__file__ or "").parent
    return sum(f.stat().st_size for f in package.rglob("*") if f.is_file()) / 1e6


def detection_ms(questions: list[dict[str, str]]) -> float:
    """Median cost of detecting one English question: what every English question now pays."""
    times = []
    for item in questions * 20:
        start = time.perf_counter()
        detect_language(item["en"])
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def report(councils: list[dict[str, object]], detectors: list[dict[str, object]], english_ms: float, n: int) -> str:
    """The Markdown page: agreement table per council, latency, detectors, and every translation."""
    lines = ["# Questions in other languages", "",
             "Generated by `.venv/bin/python tools/measure_languages.py` on this machine (2 cores, shared with "
             "other jobs); `livemind/council/language.py` is how routing uses it.", "",
             f"Ground truth: how the router routes the English version of each of {n} questions "
             "(tests/fixtures/multilingual_questions.json): the expert `ask` picks, and the set a debate convenes. "
             "Each Spanish, French and German version is routed as written (raw), on its English translation by "
             "the council's model when the detector says it is not English (pivot), or by the better of the two "
             "scores per expert (max). Cells: same expert for `ask` / same council for a debate, of n.", ""]
    lines += ["## Summary", ""]
    for result in councils:
        tallies = result["tallies"]
        assert isinstance(tallies, dict)
        totals = {m: (sum(tallies[(m, lang)].top for lang in LANGUAGES), sum(tallies[(m, lang)].council for lang in LANGUAGES))
                  for m in METHODS}
        lines.append(f"- `{result['council']}`: over the {n * len(LANGUAGES)} translated questions, same `ask` expert / "
                     "same debate council as the English version: " + ", ".join(f"{m} {t[0]} / {t[1]}"
                                                                                   for m, t in totals.items()) + ".")
    lines += ["", "LiveMind routes on the translation (pivot, `[router] translate_for_routing = \"auto\"`) where the "
              "council's model can translate, and as written (`\"off\"`) where it cannot (the tiny council's "
              "SmolLM2-135M echoes or answers the question: see its translations below). Max keeps the scores of the "
              "untranslated question, which pull toward whichever expert shares its words.", ""]
    for result in councils:
        tallies = result["tallies"]
        assert isinstance(tallies, dict)
        lines += [f"## Council `{result['council']}` (translator model {result['model']})", "",
                  "| method | " + " | ".join(LANGUAGES) + " |", "|---|" + "---|" * len(LANGUAGES)]
        for method in METHODS:
            cells = [f"{tallies[(method, lang)].top}/{n} · {tallies[(method, lang)].council}/{n}" for lang in LANGUAGES]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        ms = result["translate_ms"]
        assert isinstance(ms, list)
        lines += ["", f"- translation, model loaded: median {statistics.median(ms):.0f} ms, "
                      f"slowest {max(ms):.0f} ms per question ({len(ms)} questions); the first one, "
                      f"loading the model, {result['first_translation_s']:.1f} s",
                  f"- the founding question in Spanish convenes {', '.join(result['founding_council'])}; "  # type: ignore[arg-type]
                  f"{result['answer_expert']} answers it in `{result['answer_language']}`: "
                  f"“{' '.join(str(result['answer']).split())[:160]}…”", ""]
        misses = [m for lang in LANGUAGES for m in tallies[("pivot", lang)].misses]
        lines += [f"Routed on the translation, unlike the English version ({len(misses)}):", ""]
        lines += [f"- {m}" for m in misses] or ["- none"]
        lines.append("")
        translations = result["translations"]
        assert isinstance(translations, dict)
        lines += ["<details><summary>every translation</summary>", ""]
        lines += [f"- {q} → {t}" for q, t in translations.items()]
        lines += ["", "</details>", ""]
    lines += ["## Detecting the language", "",
              f"An English question pays only the detection: median {english_ms * 1000:.0f} µs per question here "
              "(the model loads once per process, in `LiveMind.start()` for servers).", "",
              "| detector | English kept | others found | ms per text | load s | size MB |", "|---|---|---|---|---|---|"]
    for row in detectors:
        lines.append(f"| {row['name']} | {row['english']} | {row['others']} | {row['ms']:.3f} | "
                     f"{row['load_s']:.2f} | {row['size_mb']:.1f} |")
    lines.append("")
    for row in detectors:
        wrong = row["wrong"]
        assert isinstance(wrong, list)
        if wrong:
            lines.append(f"- {row['name']} misread: " + "; ".join(f"“{w[:60]}”" for w in wrong))
    lines += ["", "LiveMind depends on py3langid only; lingua-language-detector is measured when it can be imported "
              "(`PYTHONPATH=DIR` with it installed in DIR). A hand-written stopword list was not tried: it would have "
              "to match py3langid's figures above to be worth its upkeep."]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure, print the page and write it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--councils", default="default,tiny")
    parser.add_argument("--questions", default="tests/fixtures/multilingual_questions.json")
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME)
    parser.add_argument("--out", type=Path, default=Path("docs/languages.md"))
    args = parser.parse_args()
    questions = json.loads(Path(args.questions).read_text(encoding="utf-8"))["questions"]
    councils = [measure_council(name, questions, args.home) for name in args.councils.split(",")]
    page = report(councils, measure_detectors(questions), detection_ms(questions), len(questions))
    print(page)
    args.out.write_text(page, encoding="utf-8")


if __name__ == "__main__":
    main()
