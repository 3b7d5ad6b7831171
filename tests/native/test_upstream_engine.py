"""The unpatched twin of a patched engine, for the bench's "before" (native.build.upstream_engine)."""

import io
import zipfile
from pathlib import Path

from livemind_native.build import upstream_engine
from livemind_native.home import wheel_cache_dir
from livemind_native.marker import EngineMarker, write_marker

PROFILE = "x86_64-avx2"
VERSION = "0.3.36"


def _venv(tmp_path: Path, patches: tuple[str, ...]) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    write_marker(venv, EngineMarker(version=VERSION, profile=PROFILE, kleidiai=False, wheel="w.whl", wheel_sha256="0" * 64,
                                    cmake_args=(), installed_at="2026-12-07T00:00:00+00:00", patches=patches))
    return venv


def _cache_wheel(home: Path, body: str) -> Path:
    wheel_dir = wheel_cache_dir(home, VERSION, PROFILE)
    wheel_dir.mkdir(parents=True)
    wheel = wheel_dir / f"llama_cpp_python-{VERSION}-py3-none-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("llama_cpp/__init__.py", body)
    return wheel


def test_a_patched_engine_gets_its_cached_unpatched_twin_unpacked_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _cache_wheel(home, "UNPATCHED = True\n")
    venv = _venv(tmp_path, ("ggml-tiled-min-batch-32.patch",))
    found = upstream_engine(venv, home, build=False, out=io.StringIO())
    assert found is not None and found.parent == home / "engines"
    assert (found / "llama_cpp" / "__init__.py").read_text() == "UNPATCHED = True\n"
    (found / "llama_cpp" / "mark").write_text("kept")
    assert upstream_engine(venv, home, build=False, out=io.StringIO()) == found
    assert (found / "llama_cpp" / "mark").exists(), "a second call unpacked the wheel again"


def test_an_unpatched_engine_has_no_before(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _cache_wheel(home, "")
    assert upstream_engine(_venv(tmp_path, ()), home, build=False, out=io.StringIO()) is None


def test_no_cached_twin_and_no_build_means_none_and_nothing_built(tmp_path: Path) -> None:
    home = tmp_path / "home"
    venv = _venv(tmp_path, ("ggml-tiled-min-batch-32.patch",))
    assert upstream_engine(venv, home, build=False, out=io.StringIO()) is None
    assert not (home / "engines").exists()
