"""Shared fixtures: the real model home (pulled by tools/setup.sh), isolated session folders, and the one
scripted LiveMind (`mind`) with its HTTP app in process (`http`) for the tests that need no model.

The fast tests run on the tiny council: every `livemind` process a test starts inherits
LIVEMIND_COUNCIL=tiny, and `tiny_config` is that council in process. The tests about the
default (capable) council ask for it by name (`capable_config`, `--council default`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from livemind.config import LiveMindConfig, load_config
from livemind.council.embeddings import SentenceEmbedder
from livemind.engine.catalog import ModelCatalog
from livemind.orchestrator import LiveMind
from tests.support.fakes import ScriptedLoader
from tests.support.faults import fault_config
from tests.support.inprocess import serve_in_process
from tests.support.minds import open_mind, stubborn
from tests.support.ram_watch import pytest_runtest_setup, pytest_sessionfinish, pytest_sessionstart  # noqa: F401 (hooks)
from tests.support.recording import pytest_runtest_makereport, record  # noqa: F401 (rows for docs/reliability.md)

MODELS_HOME = Path(os.environ.get("LIVEMIND_HOME", str(Path.home() / ".cache" / "livemind")))
os.environ["LIVEMIND_COUNCIL"] = "tiny"  # child processes of the suite: the fast council unless a test says otherwise


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses the real model files `models` (they all reach them through models_home)."""
    for item in items:
        if "models_home" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.models)


@pytest.fixture(scope="session")
def models_home() -> Path:
    """The home holding the real pulled models."""
    catalog = ModelCatalog(MODELS_HOME)
    missing = [i.name for i in catalog.list() if not i.is_present]
    if missing:
        pytest.fail(f"models not pulled: {missing}; run tools/setup.sh (or `livemind models pull`)")
    return MODELS_HOME


@pytest.fixture
def home(tmp_path: Path, models_home: Path) -> Path:
    """A fresh LIVEMIND_HOME whose models folder points at the real models."""
    root = tmp_path / "home"
    root.mkdir()
    (root / "models").symlink_to(models_home / "models", target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def catalog(models_home: Path) -> ModelCatalog:
    """The catalog over the real models."""
    return ModelCatalog(models_home)


@pytest.fixture(scope="session")
def tiny_config(catalog: ModelCatalog) -> LiveMindConfig:
    """The shipped tiny council (SmolLM2 personas and a Gemma 3 270M futurist)."""
    return load_config(None, catalog, council="tiny")


@pytest.fixture(scope="session")
def capable_config(catalog: ModelCatalog) -> LiveMindConfig:
    """The shipped default council (personas on Qwen2.5-Coder-1.5B)."""
    return load_config(None, catalog, council="default")


@pytest.fixture(scope="session")
def embedder(catalog: ModelCatalog) -> Iterator[SentenceEmbedder]:
    """The real all-MiniLM-L6-v2 embedder, loaded once per test session."""
    yield SentenceEmbedder(catalog.path_of(catalog.entry("all-minilm-l6-v2")))


@pytest.fixture(scope="module")
def mind(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[LiveMind]:
    """alpha, beta, gamma over scripted backends that keep disagreeing (one per module; a module may define its own)."""
    home = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    opened = open_mind(home, fault_config(home), ScriptedLoader(stubborn))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def http(mind: LiveMind) -> Iterator[TestClient]:
    """The real HTTP app over `mind`, in process, once it says ready."""
    with serve_in_process(mind) as (client, _service):
        yield client
