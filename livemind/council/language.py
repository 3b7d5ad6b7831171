"""A question's language, and the text the router scores for it: English as written, any other language translated.

The router's embedding model (all-MiniLM-L6-v2) was trained on English: a Spanish or French
question lands near whichever expert shares its words, not its topic. Adding Spanish examples
to the personas made it worse (the router matched by language), so the question is translated
instead, by the council's own model, and only for routing: the experts answer the question as
it was asked, in its language. Measured in docs/languages.md (tools/measure_languages.py).

    question ─ detect (py3langid, 0.05 ms) ─ English ─────────────────────▶ router scores the question
                                          └ other ─ translate (the model) ─▶ router scores the translation
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from livemind.config import LiveMindConfig
from livemind.engine.runner import ExpertRunner
from livemind.errors import LiveMindError, TranslationUnavailable
from livemind.types import ChatMessage, ExpertSpec

LOG = logging.getLogger("livemind")

# A text counts as another language only when the detector is sure of it: that language holds at least
# this probability and at least this many times English's. Short or mixed texts ("Hi", "Explain TCP vs
# UDP.", a list of English topic words the model reads as Latin) then stay English and cost nothing;
# on the measured set no English text is translated and 47 of 48 others are (docs/languages.md).
MIN_LANGUAGE_PROBABILITY = 0.2
MIN_LEAD_OVER_ENGLISH = 10.0
# Labels routed as written: English, and py3langid's "no linguistic content" (compiler flags, numbers, logs).
AS_WRITTEN = frozenset({"en", "zxx"})

# The prompt measured against a plainer one ("Translate the user's text into English"), which let the
# model answer "What is its average speed?" instead of translating it.
TRANSLATION_SYSTEM = "You translate questions into English. Output only the translation."
TRANSLATION_REQUEST = "Translate into English, do not answer:\n{text}"
TRANSLATION_CACHE_SIZE = 256
# The router's embedding model reads 256 word pieces (about 1,000 English characters), and a question's
# topic shows early: the first 600 characters are translated, in at most 128 tokens (about 18 s on 2 cores),
# so a long pasted text costs no more than that.
ROUTING_CHARS = 600
MAX_TRANSLATION_TOKENS = 128
_LABELS = ("translation:", "english:", "english translation:")


@dataclass(frozen=True)
class Detection:
    """A text's most likely language (ISO 639-1 code), its probability and the probability of English."""

    best: str
    probability: float
    english_probability: float

    @property
    def is_english(self) -> bool:
        """English unless another language is both likely and far likelier than English."""
        return (self.best in AS_WRITTEN or self.probability < MIN_LANGUAGE_PROBABILITY
                or self.probability < MIN_LEAD_OVER_ENGLISH * self.english_probability)

    @property
    def language(self) -> str:
        """The language the router acts on: `en` for every text it keeps as English."""
        return "en" if self.is_english else self.best


class LanguageDetector:
    """py3langid's naive Bayes model over 97 languages (4.5 MB), loaded on first use.

    Loading decompresses the model (about 0.5 s), so long-running servers do it in `warm()`;
    after that a question costs about 0.05 ms.
    """

    def __init__(self) -> None:
        self._identifier: LanguageIdentifier | None = None
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Load the model now rather than on the first question."""
        self._model()

    def detect(self, text: str) -> Detection:
        """The most likely language of `text`, with English's probability beside it."""
        ranked = self._model().rank(text)
        best, probability = ranked[0]
        english = next((p for lang, p in ranked if lang == "en"), 0.0)
        return Detection(best=str(best), probability=float(probability), english_probability=float(english))

    def _model(self) -> LanguageIdentifier:
        with self._lock:  # concurrent first questions load it once
            if self._identifier is None:
                self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            return self._identifier


DETECTOR = LanguageDetector()
"""The process's detector: one copy of the model for every router and caller."""


def detect_language(text: str) -> Detection:
    """The language of a text (a question, or an answer to check which language it came back in)."""
    return DETECTOR.detect(text)


class Translator(Protocol):
    """Turns a question into English for the router; raises a LiveMindError when it cannot."""

    def translate(self, text: str) -> str:
        """The English translation of `text`."""
        ...


class ModelTranslator:
    """Translates with an expert's model through the runner: weights the council loads anyway, greedy, a few dozen tokens.

    It never makes room for itself: when the model is not loaded and loading it would evict a
    model or pass the pool's soft RAM target, it declines (TranslationUnavailable) and the
    question is routed as written. Translations are kept, so a question routed twice (plan,
    then run; an agent's `route` then `debate`) is translated once.
    """

    def __init__(self, runner: ExpertRunner, expert: ExpertSpec, *, cache_size: int = TRANSLATION_CACHE_SIZE) -> None:
        self._runner = runner
        self._expert = expert
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def translate(self, text: str) -> str:
        """The English translation of `text` (TranslationUnavailable if the model cannot give one now)."""
        with self._lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                return self._cache[text]
        self._check_room()
        source = routing_part(text)
        messages = [ChatMessage(role="system", content=TRANSLATION_SYSTEM),
                    ChatMessage(role="user", content=TRANSLATION_REQUEST.format(text=source))]
        completion = self._runner.generate(self._expert, messages, temperature=0.0, seed=0,
                                           max_tokens=translation_budget(source))
        english = clean_translation(completion.text, lines=len(source.strip().splitlines()) or 1)
        if not english:
            raise TranslationUnavailable(f"the model of '{self._expert.name}' returned no translation")
        with self._lock:
            self._cache[text] = english
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return english

    def _check_room(self) -> None:
        """Routing may use a loaded model, or load one into free room; it never pushes another model out."""
        if self._expert.remote is not None:
            return
        pool = self._runner.pool
        target = self._runner.target_for(self._expert)
        status = pool.status()
        if any(m.key == target.key for m in status.loaded):
            return
        if len(status.loaded) >= pool.max_warm:
            raise TranslationUnavailable(f"the model {target.model} is not loaded and the warm set is full",
                                         hint="routing does not evict a model; the question is routed as written")
        needed = pool.estimate(target).total
        admission = pool.guard.admit(needed, status.pool_bytes, target_percent=pool.guard.soft_target_percent)
        if not admission.fits:
            raise TranslationUnavailable(f"the model {target.model} is not loaded and RAM is tight ({admission.reason})",
                                         hint="routing does not load a model past the soft RAM target")


def routing_part(text: str) -> str:
    """The start of a question that routing needs: up to ROUTING_CHARS characters, cut between words."""
    if len(text) <= ROUTING_CHARS:
        return text
    cut = text[:ROUTING_CHARS]
    return cut[:cut.rfind(" ")] if " " in cut else cut


def translation_budget(text: str) -> int:
    """Tokens for a translation: an English version of a text is about as long as the text (3-4 characters a token)."""
    return min(MAX_TRANSLATION_TOKENS, len(text) // 3 + 16)


def clean_translation(reply: str, *, lines: int = 1) -> str:
    """The translation in a reply: without a "Translation:" label or quotes, and no longer than the question in lines."""
    kept = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if kept and kept[0].lower() in _LABELS:
        kept = kept[1:]
    elif kept:
        first = kept[0]
        label = next((p for p in _LABELS if first.lower().startswith(p)), "")
        kept[0] = first[len(label):].strip()
    text = "\n".join(kept[:lines]).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”":
        text = text[1:-1].strip()
    return text.strip("“”").strip()


@dataclass(frozen=True)
class RoutingText:
    """What the router scores for a question and why; the decision carries it so a person can read it."""

    text: str
    language: str
    is_translated: bool = False
    note: str = ""


class RoutingPivot:
    """Routes a question not in English on its English translation; an English question passes at the detector's cost.

    Whatever goes wrong with the translation (no room for the model, an engine error, a reply
    that is not English) the question is routed as written and the note says why: a question
    is never lost to its routing.
    """

    def __init__(self, translator: Translator, *, detector: LanguageDetector = DETECTOR) -> None:
        self._translator = translator
        self._detector = detector

    def warm(self) -> None:
        """Load the language model now (a server's start) rather than on the first question."""
        self._detector.warm()

    def routing_text(self, question: str) -> RoutingText:
        """The text to score for `question`: itself if English, else its translation when one can be had."""
        language = self._detector.detect(question).language
        if language == "en":
            return RoutingText(text=question, language="en")
        try:
            english = self._translator.translate(question)
        except LiveMindError as exc:  # routing as written beats failing the request
            LOG.warning("routing a question in %s as written: %s", language, exc.message)
            return RoutingText(text=question, language=language,
                               note=f"question in {language} routed as written (no translation: {exc.message})")
        if self._detector.detect(english).language != "en":
            return RoutingText(text=question, language=language,
                               note=f"question in {language} routed as written (the translation “{english}” is not English)")
        return RoutingText(text=english, language=language, is_translated=True,
                           note=f"question in {language} routed on its English translation “{english}”")


def routing_pivot(config: LiveMindConfig, runner: ExpertRunner) -> RoutingPivot | None:
    """The configured pivot: the translator expert's model through the runner, or None when `translate_for_routing` is off."""
    if config.router.translate_for_routing == "off":
        return None
    return RoutingPivot(ModelTranslator(runner, config.translator))
