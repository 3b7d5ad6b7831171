"""The semantic router: scores every expert for a question and picks who answers."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from livemind.config import MeasuredCouncil, RouterSettings
from livemind.council.embeddings import Embedder, Vectors
from livemind.council.language import RoutingPivot, RoutingText
from livemind.errors import UnknownExpertError
from livemind.types import ConsensusMode, ExpertSpec, RouteDecision, RouteScore

COUNCIL_MIN_EXPERTS = 2
"""A debate or a consensus convenes at least this many experts unless the caller names them."""


class Router:
    """Embeds each expert's description and examples once; scores questions against them.

    With a `pivot`, a question not in English is scored on its English translation (the
    embedding model knows English only); the decision says so in `routed_on` and its reason.
    With measured councils (`[[router.councils]]`), a question that looks most like one kind's
    examples convenes that kind's experts whenever a council convenes (`council_kind`).
    """

    def __init__(self, experts: Sequence[ExpertSpec], embedder: Embedder, settings: RouterSettings,
                 *, cache_dir: Path | None = None, pivot: RoutingPivot | None = None) -> None:
        self.experts = tuple(experts)
        self.settings = settings
        self._embedder = embedder
        self._cache_dir = cache_dir
        self._pivot = pivot
        self._texts: list[tuple[str, str]] = [
            (e.name, text) for e in self.experts for text in (e.description, *e.examples) if text.strip()
        ]
        self._kinds: list[tuple[MeasuredCouncil, str]] = [
            (c, text) for c in settings.councils for text in c.examples if text.strip()
        ]
        self._vectors: Vectors | None = None
        self._lock = threading.Lock()

    def _expert_vectors(self) -> Vectors:
        with self._lock:  # concurrent first questions compute (and cache) the vectors once
            return self._expert_vectors_locked()

    def _expert_vectors_locked(self) -> Vectors:
        if self._vectors is not None:
            return self._vectors
        texts = [t for _, t in self._texts] + [t for _, t in self._kinds]  # the experts' rows, then the kinds'
        labelled = [f"{n}\x01{t}" for n, t in self._texts] + [f"\x02{c.kind}\x01{t}" for c, t in self._kinds]
        key = hashlib.sha256((self._embedder.fingerprint + "\x00" + "\x00".join(labelled)).encode()).hexdigest()[:24]
        path = self._cache_dir / f"router-{key}.npy" if self._cache_dir else None
        if path is not None and path.exists():
            cached = np.load(path)
            if cached.shape[0] == len(texts):
                self._vectors = cached.astype(np.float32)
                return self._vectors
        self._vectors = self._embedder.embed(texts)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npy")
            np.save(tmp, self._vectors)
            tmp.replace(path)
        return self._vectors

    def warm(self) -> None:
        """Compute (or load) the expert embeddings now rather than on the first question."""
        self._expert_vectors()
        self._embedder.embed(["warm-up"])
        if self._pivot is not None:
            self._pivot.warm()

    def score(self, question: str) -> tuple[RouteScore, ...]:
        """Every expert's score (best cosine over its texts), best first."""
        return self._scores(self._sims(question))

    def _sims(self, question: str) -> np.ndarray:
        """Cosine of the question with every expert text, then every measured kind's example."""
        vectors = self._expert_vectors()
        return vectors @ self._embedder.embed([question])[0]

    def _scores(self, sims: np.ndarray) -> tuple[RouteScore, ...]:
        best: dict[str, tuple[float, str]] = {}
        for (name, text), sim in zip(self._texts, sims[:len(self._texts)], strict=True):
            if name not in best or sim > best[name][0]:
                best[name] = (float(sim), text)
        scores = [RouteScore(expert=e.name, score=round(best.get(e.name, (0.0, ""))[0], 4),
                             best_match=best.get(e.name, (0.0, ""))[1]) for e in self.experts]
        return tuple(sorted(scores, key=lambda s: s.score, reverse=True))

    def route(self, question: str, *, mode: ConsensusMode = "auto", experts: Sequence[str] | None = None,
              top_k: int | None = None, min_experts: int = 1) -> RouteDecision:
        """Decide who answers. `experts` pins the choice; scores are still reported (of the question as written).

        `min_experts` is for councils: in auto mode a clear leader still answers alone for `ask`,
        but a debate or a consensus convenes at least this many experts (when that many exist).
        """
        if experts:
            return self._pinned(self.score(question), experts, mode)
        routing = self._pivot.routing_text(question) if self._pivot is not None else None
        sims = self._sims(routing.text if routing is not None else question)
        decision = self._decide(self._scores(sims), mode, min(top_k or self.settings.top_k, len(self.experts)), min_experts)
        decision = self._measured(decision, sims[len(self._texts):])
        return decision if routing is None else _with_language(decision, routing)

    def _measured(self, decision: RouteDecision, sims: np.ndarray) -> RouteDecision:
        """A convened council becomes the measured council of the kind the question looks most like, if one fits."""
        if len(decision.selected) < 2 or not self._kinds:
            return decision
        index = int(np.argmax(sims))
        council, example = self._kinds[index]
        score = float(sims[index])
        if score < self.settings.threshold:
            return decision
        evidence = f" ({council.evidence})" if council.evidence else ""
        reason = (f"looks like {council.kind} ({score:.2f} via “{example}”): its measured council "
                  f"{', '.join(council.experts)}{evidence}; by description: {decision.reason}")
        return decision.model_copy(update={"selected": council.experts, "reason": reason, "council_kind": council.kind})

    def _pinned(self, scores: tuple[RouteScore, ...], experts: Sequence[str], mode: ConsensusMode) -> RouteDecision:
        names = [e.name for e in self.experts]
        for name in experts:
            if name not in names:
                raise UnknownExpertError(name, names)
        chosen = tuple(dict.fromkeys(experts))
        resolved: ConsensusMode = "single" if len(chosen) == 1 and mode in ("auto", "single") else (
            "parallel" if mode in ("auto", "single") else mode)
        return RouteDecision(scores=scores, selected=chosen, mode=resolved, reason="experts chosen by the caller")

    def _decide(self, scores: tuple[RouteScore, ...], mode: ConsensusMode, k: int, min_experts: int) -> RouteDecision:
        top = scores[0]
        threshold = self.settings.threshold
        if mode == "single":
            if top.score >= threshold:
                return RouteDecision(scores=scores, selected=(top.expert,), mode="single",
                                     reason=f"best match {top.expert} ({top.score:.2f}) via “{top.best_match}”")
            return RouteDecision(scores=scores, selected=(self.settings.fallback,), mode="single",
                                 reason=f"no expert reached the threshold {threshold:.2f} (best {top.score:.2f}); "
                                        f"fallback {self.settings.fallback}")
        if mode == "auto":
            runner_up = scores[1] if len(scores) > 1 else None
            margin = top.score - runner_up.score if runner_up else 1.0
            is_clear_lead = top.score >= threshold and margin >= self.settings.auto_margin
            if is_clear_lead and min(min_experts, len(scores)) > 1:
                selected = self._convene(scores, max(k, min_experts), min_experts)
                return RouteDecision(scores=scores, selected=selected, mode="parallel",
                                     reason=f"{top.expert} leads by {margin:.2f}, but a council convenes at least "
                                            f"{min_experts}: {', '.join(selected)}")
            if is_clear_lead:
                return RouteDecision(scores=scores, selected=(top.expert,), mode="single",
                                     reason=f"{top.expert} leads by {margin:.2f} ≥ margin {self.settings.auto_margin:.2f}")
            why = (f"top two within {margin:.2f} < margin {self.settings.auto_margin:.2f}" if top.score >= threshold
                   else f"best score {top.score:.2f} below threshold {threshold:.2f}")
            selected = self._convene(scores, k, max(2, min_experts))
            return RouteDecision(scores=scores, selected=selected, mode="parallel",
                                 reason=f"{why}: convening {', '.join(selected)}")
        selected = self._convene(scores, k, min_experts)
        return RouteDecision(scores=scores, selected=selected, mode=mode,
                             reason=f"top {len(selected)} by score (≥ {threshold:.2f}, at least {min_experts}): "
                                    f"{', '.join(selected)}")

    def _convene(self, scores: Sequence[RouteScore], k: int, min_experts: int = 1) -> tuple[str, ...]:
        """The top k experts that reach the threshold, topped up by rank to `min_experts` if too few do."""
        relevant = [s.expert for s in scores[:max(1, k)] if s.score >= self.settings.threshold]
        wanted = min(max(1, min_experts), len(scores))
        ranked = [s.expert for s in scores]
        return tuple(relevant if len(relevant) >= wanted else ranked[:wanted])


def _with_language(decision: RouteDecision, routing: RoutingText) -> RouteDecision:
    """The decision with the question's language and, when the router scored a translation, that translation."""
    reason = f"{routing.note}; {decision.reason}" if routing.note else decision.reason
    return decision.model_copy(update={"language": routing.language, "reason": reason,
                                       "routed_on": routing.text if routing.is_translated else None})


def prefer_loaded(decision: RouteDecision, *, is_ready: Callable[[str], bool], ram_percent: float,
                  limit_percent: float) -> RouteDecision:
    """Over the RAM limit, answer with experts whose model is already loaded (the seed's rule, `prefer_loaded`).

    Unchanged under the limit, when every chosen expert is ready, or when none is. A single
    answer goes to the best-scoring ready expert; a council keeps its ready members (or, if it
    has none, the best-scoring ready experts). The reason says what was swapped and why.
    """
    waiting = [e for e in decision.selected if not is_ready(e)]
    ready = [s.expert for s in sorted(decision.scores, key=lambda s: s.score, reverse=True) if is_ready(s.expert)]
    if ram_percent <= limit_percent or not waiting or not ready:
        return decision
    if decision.mode == "single":
        chosen = ready[:1]
    else:
        chosen = [e for e in decision.selected if is_ready(e)] or ready[:len(decision.selected)]
    reason = (f"RAM at {ram_percent:.0f}% is over the {limit_percent:.0f}% limit and the model of "
              f"{', '.join(waiting)} is not loaded: {'answered by' if len(chosen) == 1 else 'convened'} "
              f"{', '.join(chosen)}, whose model is (prefer_loaded; the router had said: {decision.reason})")
    return decision.model_copy(update={"selected": tuple(chosen), "reason": reason})
