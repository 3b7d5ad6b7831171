"""Reliability fixtures: the soak switch, figures for docs/reliability.md, and the shared servers.

- Tests marked `soak` run only with `-m soak` or LIVEMIND_SOAK=1; otherwise they are skipped.
- `record(**figures)` and `@pytest.mark.fault(...)` (tests/support/recording.py, loaded for the whole
  suite by tests/conftest.py) write the table's rows with each test's outcome: tools/reliability.py
  builds the table from those lines and the JUnit report.
- `fake_server`: the product's HTTP server over scripted backends, shared by the fuzz and
  security tests. `fault_server`: `livemind serve` on the real models, with a configuration
  whose extra experts point at a truncated, a corrupt, a non-GGUF, a scrambled and a vanishing
  model file, under a RAM budget that fits SmolLM2 but not Gemma.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from livemind.engine.backends.base import LoadTarget
from livemind.engine.backends.llama_loader import LlamaBatchLoader
from livemind.engine.catalog import ModelCatalog
from livemind.types import EngineSettings
from tests.support.servers import ServerProcess, rss_of, start_fake_server, start_livemind_serve

SOAK_ENV = "LIVEMIND_SOAK"

FAULT_CONFIG = """
[[experts]]
name = "generalist"
model = "smollm2-135m"
persona = "You are a helpful generalist. Answer briefly."
description = "general knowledge, everyday questions"
examples = ["What is the capital of France?", "Name a colour."]

[[experts]]
name = "coder"
model = "smollm2-135m"
persona = "You are a careful programmer. Answer briefly."
description = "programming, code, software"
examples = ["Write a Python function", "What does this code do?"]

[[experts]]
name = "futurist"
model = "gemma3-270m"
persona = "You are a futurist."
description = "the future of technology"
examples = ["Will robots take most jobs?"]
{broken}
[router]
fallback = "generalist"

[debate]
synthesizer = "generalist"
"""
BROKEN_EXPERT = """
[[experts]]
name = "{name}"
model = "{path}"
persona = "You are {name}."
description = "{name} model files"
examples = ["a question about {name} files"]
"""
BROKEN_MODELS = ("truncated", "corrupt", "notgguf", "scrambled", "vanishing")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip soak tests unless they were asked for."""
    markexpr = str(config.getoption("markexpr") or "")
    if ("soak" in markexpr and "not soak" not in markexpr) or os.environ.get(SOAK_ENV) == "1":
        return
    skip = pytest.mark.skip(reason="soak test: run with `-m soak` or LIVEMIND_SOAK=1")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One product HTTP server over scripted backends (1 ms a word), shared by the fast tests."""
    server = start_fake_server(tmp_path_factory.mktemp("fake-server"), pace_ms=1.0)
    yield server
    assert server.stop() == 0, server.log[-3000:]


def write_broken_models(folder: Path, good: Path) -> dict[str, Path]:
    """Model files that fail in different ways, made from a good GGUF."""
    folder.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    noise = random.Random(8)
    files = {
        "truncated": data[: 10 * 2**20],                                   # cut off inside the tensor data
        "corrupt": b"GGUF" + noise.randbytes(2**20),                        # right magic, garbage header
        "notgguf": noise.randbytes(2**20),                                  # not a GGUF at all
        "scrambled": data[: 4 * 2**20] + noise.randbytes(len(data) - 4 * 2**20),  # header intact, weights noise
        "vanishing": data[: 2**20],                                         # deleted once the server runs
    }
    paths = {}
    for name, content in files.items():
        paths[name] = folder / f"{name}.gguf"
        paths[name].write_bytes(content)
    return paths


@pytest.fixture(scope="session")
def fault_budget(models_home: Path) -> dict[str, int]:
    """Estimated bytes of SmolLM2 and Gemma as the server's loader sees them, and a budget between them."""
    catalog = ModelCatalog(models_home)
    loader = LlamaBatchLoader()
    sizes = {}
    for name in ("smollm2-135m", "gemma3-270m"):
        resolved = catalog.resolve(name)
        sizes[name] = loader.estimate(LoadTarget(model=name, path=resolved.path, engine=EngineSettings(),
                                                 chat_format=resolved.chat_format)).total
    assert sizes["gemma3-270m"] > sizes["smollm2-135m"]
    return {**sizes, "budget": (sizes["smollm2-135m"] + sizes["gemma3-270m"]) // 2}


@pytest.fixture(scope="session")
def fault_server(tmp_path_factory: pytest.TempPathFactory, models_home: Path,
                 fault_budget: dict[str, int]) -> Iterator[ServerProcess]:
    """`livemind serve` on the real models plus five broken model files, under a budget Gemma cannot fit."""
    root = tmp_path_factory.mktemp("fault-server")
    home = root / "home"
    home.mkdir()
    (home / "models").symlink_to(models_home / "models", target_is_directory=True)
    broken = write_broken_models(root / "broken", models_home / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    config = root / "experts.toml"
    config.write_text(FAULT_CONFIG.format(broken="".join(BROKEN_EXPERT.format(name=n, path=broken[n])
                                                         for n in BROKEN_MODELS)), encoding="utf-8")
    server = start_livemind_serve(home, config=config, ram_budget=str(fault_budget["budget"]))
    server.idle_rss = rss_of(psutil.Process(server.pid))  # ready, router warm, no expert model loaded yet
    broken["vanishing"].unlink()  # present at start-up (configuration is checked then), gone at first use
    yield server
    assert server.stop() == 0, server.log[-3000:]
