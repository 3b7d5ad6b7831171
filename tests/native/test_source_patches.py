"""Source patches of the engine build: they apply to the real vendored llama.cpp, fail clearly, key the cache."""

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from livemind_native import source_patches
from livemind_native.errors import BuildError
from livemind_native.marker import EngineMarker, read_marker, write_marker
from livemind_native.source_patches import (
    PATCH_DIR,
    PATCHES,
    SourcePatch,
    apply_patches,
    build_key,
    patch_set_id,
    patches_for,
    unpack_sdist,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ENGINE_VERSION = "0.3.36"  # native/build.py DEFAULT_VERSION, the sdist the patches are written for
TILED_CPP = "vendor/llama.cpp/ggml/src/ggml-cpu/tiled/tiled.cpp"
TILED_EXCERPT = REPO_ROOT / "tests" / "fixtures" / "tiled_min_batch_excerpt.cpp"
TILED_PATCH = source_patches.patch_by_name("ggml-tiled-min-batch-32.patch")
DOWNLOAD_TIMEOUT_SECONDS = 600


@pytest.fixture(scope="session")
def engine_sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real llama-cpp-python sdist the engine is built from (pip download; skipped offline)."""
    into = tmp_path_factory.mktemp("sdist")
    command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
               f"llama-cpp-python=={ENGINE_VERSION}", "-d", str(into)]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip download llama-cpp-python=={ENGINE_VERSION} took over {DOWNLOAD_TIMEOUT_SECONDS} s")
    sdists = sorted(into.glob("*.tar.gz"))
    if not sdists:
        pytest.skip(f"the llama-cpp-python {ENGINE_VERSION} sdist could not be downloaded (offline?): "
                    f"{(done.stderr or done.stdout).strip()[-300:]}")  # fmt: skip
    return sdists[0]


def tree_with_tiled_cpp(root: Path, text: str) -> Path:
    """A source tree laid out like the sdist, holding only tiled.cpp."""
    target = root / TILED_CPP
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return root


def test_the_tiled_patch_applies_cleanly_to_the_real_vendored_llama_cpp(engine_sdist: Path, tmp_path: Path) -> None:
    with tarfile.open(engine_sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/" + TILED_CPP))
        original = archive.extractfile(member).read().decode()  # type: ignore[union-attr]
    source = tree_with_tiled_cpp(tmp_path, original)
    apply_patches(source, [TILED_PATCH])
    patched = (source / TILED_CPP).read_text()
    assert "    return rows >= 32 || ggml_tiled_matmul_forced();\n" in patched
    assert "rows >= 8 ||" not in patched
    changed = [(a, b) for a, b in zip(original.splitlines(), patched.splitlines(), strict=False) if a != b]
    assert len(patched.splitlines()) == len(original.splitlines()) + 1, "one comment line added, nothing else"
    assert changed[0] == (
        "    //  Profitable at rows >= 8, take even when unprofitable if we're forced",
        "    //  LiveMind patch: profitable at rows >= 32 (measured on AVX-512, 2 cores: at 8 and 16 rows the",
    )
    assert not list(source.rglob("*.orig")) and not list(source.rglob("*.rej"))


def test_the_committed_excerpt_is_the_real_file_s_text(engine_sdist: Path) -> None:
    with tarfile.open(engine_sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/" + TILED_CPP))
        real = archive.extractfile(member).read().decode().splitlines()  # type: ignore[union-attr]
    body = TILED_EXCERPT.read_text().splitlines()[4:]  # after its 4-line provenance comment
    assert body == real[1189:1245], "tests/fixtures/tiled_min_batch_excerpt.cpp must stay lines 1190-1245 of the sdist"


def test_the_tiled_patch_applies_to_the_committed_excerpt(tmp_path: Path) -> None:
    source = tree_with_tiled_cpp(tmp_path, TILED_EXCERPT.read_text())
    apply_patches(source, [TILED_PATCH])
    assert "return rows >= 32 || ggml_tiled_matmul_forced();" in (source / TILED_CPP).read_text()


def test_a_patch_that_does_not_apply_names_the_patch_and_the_failed_hunk(tmp_path: Path) -> None:
    changed = TILED_EXCERPT.read_text().replace("return rows >= 8 ||", "return rows >= 16 ||")
    source = tree_with_tiled_cpp(tmp_path, changed)
    with pytest.raises(BuildError) as failure:
        apply_patches(source, [TILED_PATCH], what="llama-cpp-python 0.3.99")
    message = str(failure.value)
    assert "patch ggml-tiled-min-batch-32.patch does not apply to the llama-cpp-python 0.3.99 source" in message
    assert "checking file vendor/llama.cpp/ggml/src/ggml-cpu/tiled/tiled.cpp; Hunk #1 FAILED at 1200" in message
    assert f"Update or drop {TILED_PATCH.path}" in message
    assert (source / TILED_CPP).read_text() == changed, "the dry run leaves the tree as it was"


def test_a_patch_whose_file_is_gone_says_so(tmp_path: Path) -> None:
    (tmp_path / "vendor").mkdir()
    with pytest.raises(BuildError, match=r"does not apply.*can't find file to patch"):
        apply_patches(tmp_path, [TILED_PATCH])


def test_a_patch_applied_twice_is_refused_not_reversed(tmp_path: Path) -> None:
    source = tree_with_tiled_cpp(tmp_path, TILED_EXCERPT.read_text())
    apply_patches(source, [TILED_PATCH])
    with pytest.raises(BuildError, match=r"Reversed \(or previously applied\) patch detected"):
        apply_patches(source, [TILED_PATCH])
    assert "return rows >= 32 ||" in (source / TILED_CPP).read_text()


def test_only_x86_profiles_get_the_tiled_patch() -> None:
    assert patches_for("x86_64") == (TILED_PATCH,)
    assert patches_for("aarch64") == ()
    assert patches_for("any") == (), "generic builds compile without AVX, where the tiled path does not exist"


def test_the_patch_set_id_follows_the_patches_names_and_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert patch_set_id(()) == "" and build_key("generic", ()) == "generic"
    shipped = patch_set_id([TILED_PATCH])
    assert len(shipped) == 10 and build_key("x86_64-avx2", [TILED_PATCH]) == f"x86_64-avx2+p{shipped}"
    shutil.copy(PATCH_DIR / TILED_PATCH.name, tmp_path / TILED_PATCH.name)
    monkeypatch.setattr(source_patches, "PATCH_DIR", tmp_path)
    assert patch_set_id([TILED_PATCH]) == shipped
    (tmp_path / TILED_PATCH.name).write_text((PATCH_DIR / TILED_PATCH.name).read_text() + "\n")
    assert patch_set_id([TILED_PATCH]) != shipped, "an edited patch is another build"
    shutil.copy(PATCH_DIR / TILED_PATCH.name, tmp_path / "other.patch")
    shutil.copy(PATCH_DIR / TILED_PATCH.name, tmp_path / TILED_PATCH.name)
    renamed = SourcePatch("other.patch", frozenset({"x86_64"}))
    assert patch_set_id([renamed]) != shipped
    assert patch_set_id([TILED_PATCH, renamed]) != patch_set_id([renamed, TILED_PATCH]), "order is part of the set"


def test_every_patch_file_is_listed_and_documents_itself() -> None:
    assert sorted(path.name for path in PATCH_DIR.glob("*.patch")) == sorted(patch.name for patch in PATCHES)
    for patch in PATCHES:
        header = patch.path.read_text().split("\n--- ", 1)[0]
        for field in ("# What:", "# Why:", "# Upstream status:", "# Applies to:"):
            assert field in header, f"{patch.name}: header lacks {field!r}"


def test_the_marker_records_the_patches_and_reads_an_older_marker_as_unpatched(tmp_path: Path) -> None:
    marker = EngineMarker(version=ENGINE_VERSION, profile="x86_64-avx2", kleidiai=False, wheel="w.whl",
                          wheel_sha256="0" * 64, cmake_args=("-DGGML_NATIVE=OFF",), installed_at="2026-12-07T12:00:00+00:00",
                          patches=(TILED_PATCH.name,))  # fmt: skip
    write_marker(tmp_path, marker)
    assert read_marker(tmp_path) == marker
    assert json.loads((tmp_path / "livemind-engine.json").read_text())["patches"] == [TILED_PATCH.name]
    older = marker.to_dict()
    del older["patches"]
    (tmp_path / "livemind-engine.json").write_text(json.dumps(older))
    reread = read_marker(tmp_path)
    assert reread is not None and reread.patches == ()


def test_unpack_sdist_returns_the_top_directory(tmp_path: Path) -> None:
    sdist = tmp_path / "pkg-1.0.tar.gz"
    (tmp_path / "pkg-1.0").mkdir()
    (tmp_path / "pkg-1.0" / "PKG-INFO").write_text("Name: pkg\n")
    with tarfile.open(sdist, "w:gz") as archive:
        archive.add(tmp_path / "pkg-1.0", arcname="pkg-1.0")
    assert unpack_sdist(sdist, tmp_path / "out") == tmp_path / "out" / "pkg-1.0"
    assert (tmp_path / "out" / "pkg-1.0" / "PKG-INFO").read_text() == "Name: pkg\n"
