"""The router with real all-MiniLM-L6-v2 embeddings: clear questions reach the matching expert."""

from __future__ import annotations

from pathlib import Path

import pytest

from livemind.config import LiveMindConfig, MeasuredCouncil, RouterSettings
from livemind.council.embeddings import SentenceEmbedder
from livemind.council.router import COUNCIL_MIN_EXPERTS, Router
from livemind.errors import ConfigError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def router(tiny_config: LiveMindConfig, embedder: SentenceEmbedder, tmp_path_factory: pytest.TempPathFactory) -> Router:
    return Router(tiny_config.experts, embedder, tiny_config.router, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize(("question", "expert"), [
    ("How do I fix a null pointer exception in my Java code?", "coder"),
    ("Write a Python script that parses a CSV file.", "coder"),
    ("What is the integral of 3x squared?", "mathematician"),
    ("What is 48 divided by 6 plus 7?", "mathematician"),
    ("Is it morally acceptable to lie to protect someone?", "ethicist"),
    ("Will self-driving trucks replace truck drivers by 2040?", "futurist"),
    ("What is the tallest mountain in Africa?", "generalist"),
])
def test_router_sends_each_question_to_the_matching_expert(router: Router, question: str, expert: str) -> None:
    decision = router.route(question, mode="single")
    assert decision.selected == (expert,), [(s.expert, s.score) for s in decision.scores]


def test_router_scores_every_expert_with_its_best_matching_text(router: Router, tiny_config: LiveMindConfig) -> None:
    scores = router.score("Sort a list in Python")
    assert {s.expert for s in scores} == set(tiny_config.expert_names)
    assert scores == tuple(sorted(scores, key=lambda s: s.score, reverse=True))
    top = scores[0]
    assert top.expert == "coder" and top.best_match  # the text that explains the score
    assert all(-1.0 <= s.score <= 1.0 for s in scores)


def test_question_below_the_threshold_goes_to_the_fallback(tiny_config: LiveMindConfig, embedder: SentenceEmbedder) -> None:
    strict = Router(tiny_config.experts, embedder, RouterSettings(threshold=0.99, fallback="generalist"))
    decision = strict.route("How do I write a loop in Rust?", mode="single")
    assert decision.selected == ("generalist",) and "fallback" in decision.reason


def test_auto_mode_convenes_several_experts_when_the_top_scores_are_close(tiny_config: LiveMindConfig,
                                                                          embedder: SentenceEmbedder) -> None:
    wide_margin = Router(tiny_config.experts, embedder, RouterSettings(auto_margin=2.0, top_k=3, threshold=0.0))
    decision = wide_margin.route("Can humans be replaced by AI within 20 years?", mode="auto")
    assert decision.mode == "parallel" and len(decision.selected) == 3
    assert "convening" in decision.reason
    relevant_only = Router(tiny_config.experts, embedder, RouterSettings(auto_margin=2.0, top_k=3, threshold=0.5))
    assert relevant_only.route("Can humans be replaced by AI within 20 years?", mode="auto").selected == (
        "ethicist", "futurist"), "experts under the threshold are not convened once two are"
    no_margin = Router(tiny_config.experts, embedder, RouterSettings(auto_margin=0.0, threshold=0.0))
    assert no_margin.route("What is 2 plus 2?", mode="auto").mode == "single"


def test_a_council_convenes_at_least_two_experts_even_when_one_clearly_leads(capable_config: LiveMindConfig,
                                                                             embedder: SentenceEmbedder) -> None:
    clear_lead = Router(capable_config.experts, embedder, RouterSettings(auto_margin=0.0, threshold=0.0, top_k=3))
    question = "Can humans be replaced by AI within 20 years?"
    assert clear_lead.route(question, mode="auto").mode == "single", "ask keeps picking one expert"
    council = clear_lead.route(question, mode="auto", min_experts=COUNCIL_MIN_EXPERTS)
    assert council.mode == "parallel" and len(council.selected) == 3
    assert council.selected[0] == clear_lead.route(question, mode="auto").selected[0], "the leader still sits"
    assert "a council convenes at least 2" in council.reason


def test_the_founding_question_convenes_the_ethicist_and_the_futurist(capable_config: LiveMindConfig,
                                                                     embedder: SentenceEmbedder) -> None:
    router = Router(capable_config.experts, embedder, capable_config.router)
    decision = router.route("Can humans be replaced by AI within 20 years?", mode="auto", min_experts=2)
    assert {"ethicist", "futurist"} <= set(decision.selected) and len(decision.selected) >= 2


def test_expert_embeddings_are_cached_on_disk(tiny_config: LiveMindConfig, embedder: SentenceEmbedder,
                                              tmp_path: Path) -> None:
    first = Router(tiny_config.experts, embedder, tiny_config.router, cache_dir=tmp_path)
    first.warm()
    cached = list(tmp_path.glob("router-*.npy"))
    assert len(cached) == 1
    second = Router(tiny_config.experts, embedder, tiny_config.router, cache_dir=tmp_path)
    assert second.score("hello") == first.score("hello")


CODE_COUNCIL = MeasuredCouncil(kind="code", experts=("generalist", "futurist"), evidence="pilot 11/14",
                               examples=("Write a Python function that returns the sum of a list.",
                                         "Complete this function: def is_palindrome(text: str) -> bool:"))


def test_a_question_of_a_measured_kind_convenes_that_kinds_council(tiny_config: LiveMindConfig,
                                                                    embedder: SentenceEmbedder) -> None:
    settings = tiny_config.router.model_copy(update={"councils": (CODE_COUNCIL,)})
    router = Router(tiny_config.experts, embedder, settings)
    code = router.route("Write a Python function that reverses the words of a sentence.", mode="parallel", min_experts=2)
    assert code.selected == ("generalist", "futurist") and code.council_kind == "code", code.reason
    assert "measured council generalist, futurist (pilot 11/14)" in code.reason and "by description:" in code.reason
    assert code.scores == router.score("Write a Python function that reverses the words of a sentence."), \
        "the experts' own scores are still reported"
    ethics = router.route("Is it morally acceptable to lie to protect someone?", mode="parallel", min_experts=2)
    assert ethics.council_kind is None and "ethicist" in ethics.selected, ethics.reason
    plain = Router(tiny_config.experts, embedder, tiny_config.router)
    assert plain.route("Write a Python function that reverses the words of a sentence.", mode="parallel",
                       min_experts=2).selected != ("generalist", "futurist"), "without the setting the description decides"


def test_a_measured_council_never_turns_one_answer_into_a_council(tiny_config: LiveMindConfig,
                                                                  embedder: SentenceEmbedder) -> None:
    settings = tiny_config.router.model_copy(update={"councils": (CODE_COUNCIL,)})
    router = Router(tiny_config.experts, embedder, settings)
    single = router.route("Write a Python function that reverses the words of a sentence.", mode="single")
    assert single.selected == ("coder",) and single.council_kind is None


def test_measured_councils_name_real_experts_once(tiny_config: LiveMindConfig) -> None:
    def configured(*experts: str, twice: bool = False) -> None:
        council = CODE_COUNCIL.model_copy(update={"experts": experts})
        councils = (council, council) if twice else (council,)
        LiveMindConfig(experts=tiny_config.experts, debate=tiny_config.debate,
                       router=tiny_config.router.model_copy(update={"councils": councils}))

    configured("generalist", "futurist")
    with pytest.raises(ConfigError, match="names poet, not an expert"):
        configured("generalist", "poet")
    with pytest.raises(ConfigError, match="names an expert twice"):
        configured("generalist", "generalist")
    with pytest.raises(ConfigError, match="share a kind"):
        configured("generalist", "futurist", twice=True)
