"""llama-server built from the engine wheel's own llama.cpp source: naming, finding, unpacking, errors.

The real build (about 10 minutes on 2 cores) runs in tests/bench/test_llama_server_peer.py, which
then serves a real model with it.
"""

import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from livemind_native.errors import BuildError
from livemind_native.llama_server import (
    SERVER_CMAKE_ARGS,
    _extract_vendor,
    build_command,
    ensure_server,
    find_server,
    server_path,
)
from livemind_native.marker import MARKER_NAME, EngineMarker
from livemind_native.source_patches import build_key, patch_by_name

REPO_ROOT = Path(__file__).resolve().parents[2]


def _marker(
    venv: Path, *, profile: str = "x86_64-avx2", kleidiai: bool = False, patches: tuple[str, ...] = ()
) -> EngineMarker:
    marker = EngineMarker(version="0.3.36", profile=profile, kleidiai=kleidiai, wheel="w.whl", wheel_sha256="ab" * 32,
                          cmake_args=("-DGGML_NATIVE=OFF", "-DGGML_AVX2=ON"), installed_at="2026-12-02T00:00:00+00:00",
                          patches=patches)  # fmt: skip
    venv.mkdir(parents=True, exist_ok=True)
    (venv / MARKER_NAME).write_text(json.dumps(marker.to_dict()))
    return marker


def test_the_binary_is_named_by_engine_version_and_build(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert server_path(home, _marker(tmp_path / "a")) == home / "bin" / "llama-server-0.3.36-x86_64-avx2"
    kleidiai = _marker(tmp_path / "b", profile="neoverse-v2", kleidiai=True)
    assert server_path(home, kleidiai).name == "llama-server-0.3.36-neoverse-v2-kleidiai"


def test_find_server_matches_the_venvs_engine_build_and_needs_an_executable(tmp_path: Path) -> None:
    home, venv = tmp_path / "home", tmp_path / "venv"
    assert find_server(home, venv) is None, "no marker: no engine build to match"
    marker = _marker(venv)
    assert find_server(home, venv) is None, "nothing built yet"
    binary = server_path(home, marker)
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    assert find_server(home, venv) is None, "not executable"
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    assert find_server(home, venv) == binary
    _marker(venv, profile="x86_64-avx512")  # the venv's engine was rebuilt for another profile
    assert find_server(home, venv) is None


def test_a_patched_engine_gets_its_own_server_and_an_unknown_patch_matches_none(tmp_path: Path) -> None:
    home, venv = tmp_path / "home", tmp_path / "venv"
    tiled = "ggml-tiled-min-batch-32.patch"
    patched = server_path(home, _marker(venv, patches=(tiled,)))
    assert patched.name == f"llama-server-0.3.36-{build_key('x86_64-avx2', [patch_by_name(tiled)])}"
    assert patched != server_path(home, _marker(tmp_path / "plain"))
    patched.parent.mkdir(parents=True)
    patched.write_text("#!/bin/sh\n")
    patched.chmod(0o755)
    assert find_server(home, venv) == patched
    _marker(venv, patches=("a-patch-this-checkout-does-not-know.patch",))
    assert find_server(home, venv) is None


def _sdist(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_only_the_vendored_llama_cpp_is_unpacked(tmp_path: Path) -> None:
    sdist = _sdist(tmp_path / "llama_cpp_python-0.3.36.tar.gz", {
        "llama_cpp_python-0.3.36/pyproject.toml": "x",
        "llama_cpp_python-0.3.36/vendor/llama.cpp/CMakeLists.txt": "project(llama)",
        "llama_cpp_python-0.3.36/vendor/llama.cpp/tools/server/server.cpp": "int main() {}",
    })
    source = _extract_vendor(sdist, tmp_path / "src")
    assert source == tmp_path / "src" / "llama_cpp_python-0.3.36" / "vendor" / "llama.cpp"
    assert (source / "tools" / "server" / "server.cpp").read_text() == "int main() {}"
    assert not (tmp_path / "src" / "llama_cpp_python-0.3.36" / "pyproject.toml").exists()


def test_an_sdist_without_llama_cpp_is_refused_by_name(tmp_path: Path) -> None:
    sdist = _sdist(tmp_path / "llama_cpp_python-9.tar.gz", {"llama_cpp_python-9/setup.py": "x"})
    with pytest.raises(BuildError, match=r"holds no vendor/llama\.cpp"):
        _extract_vendor(sdist, tmp_path / "src")


def test_a_venv_without_an_engine_marker_says_how_to_build_the_engine_first(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"no engine marker: build the engine first \(python3 -m native.build"):
        ensure_server(tmp_path / "venv", tmp_path / "home", out=io.StringIO())


def test_a_cached_binary_is_returned_without_building(tmp_path: Path) -> None:
    home, venv = tmp_path / "home", tmp_path / "venv"
    binary = server_path(home, _marker(venv))
    binary.parent.mkdir(parents=True)
    binary.write_text("")
    out = io.StringIO()
    assert ensure_server(venv, home, out=out) == binary
    assert out.getvalue() == f"cached llama-server: {binary}\n"


def test_the_server_build_adds_a_static_binary_without_downloads_to_the_engines_flags() -> None:
    assert "-DLLAMA_BUILD_SERVER=ON" in SERVER_CMAKE_ARGS and "-DBUILD_SHARED_LIBS=OFF" in SERVER_CMAKE_ARGS
    assert "-DLLAMA_CURL=OFF" in SERVER_CMAKE_ARGS and "-DLLAMA_USE_PREBUILT_UI=OFF" in SERVER_CMAKE_ARGS
    assert not any(arg.startswith("-DGGML_") for arg in SERVER_CMAKE_ARGS), "the instruction sets come from the engine"
    assert build_command(Path(".venv")) == "python3 -m native.llama_server --venv .venv"


def test_the_command_runs_by_path_before_the_package_is_installed(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-S", "-m", "native.llama_server", "--venv", str(tmp_path / "none"),
                           "--cache-dir", str(tmp_path / "home")], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": ""}, check=False)
    assert done.returncode == 1
    assert "no engine marker" in done.stderr and "python3 -m native.build" in done.stderr
