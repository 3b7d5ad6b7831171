"""Engine build: wheel cache layout, streaming build, atomic caching, install marker, CLI."""

import base64
import hashlib
import inspect
import io
import os
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest
from livemind_native.build import (
    build_wheel,
    choose_profile,
    ensure_engine,
    file_sha256,
    find_cached_wheel,
    is_installed,
)
from livemind_native.errors import BuildError
from livemind_native.home import build_log_path, default_home, wheel_cache_dir
from livemind_native.marker import read_marker
from livemind_native.probe import ProbeResult
from livemind_native.profiles import Profile, get_profile, select_profile
from livemind_native.source_patches import build_key, patches_for

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSION = "0.0.1"  # not on PyPI: a real pip build of it fails at once instead of compiling for minutes
TILED_CPP = "vendor/llama.cpp/ggml/src/ggml-cpu/tiled/tiled.cpp"
TILED_EXCERPT = REPO_ROOT / "tests" / "fixtures" / "tiled_min_batch_excerpt.cpp"


def make_wheel(directory: Path, version: str, marker_text: str) -> Path:
    """Write a minimal but valid llama_cpp_python wheel whose module holds `marker_text`."""
    directory.mkdir(parents=True, exist_ok=True)
    dist_info = f"llama_cpp_python-{version}.dist-info"
    files = {
        "llama_cpp/__init__.py": f"BUILD = {marker_text!r}\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: llama_cpp_python\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"llama_cpp_python-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def make_sdist(directory: Path, version: str, tiled_cpp: str) -> Path:
    """Write a llama_cpp_python sdist holding only the vendored tiled.cpp the engine patch changes."""
    directory.mkdir(parents=True, exist_ok=True)
    sdist = directory / f"llama_cpp_python-{version}.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for name, text in (
            (f"llama_cpp_python-{version}/{TILED_CPP}", tiled_cpp),
            (f"llama_cpp_python-{version}/PKG-INFO", f"Name: llama_cpp_python\nVersion: {version}\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    return sdist


def fake_venv(root: Path, *, build_fails: bool = False, install_fails: bool = False, tiled_cpp: str | None = None) -> Path:
    """A venv whose `python` imitates `pip download` (an sdist of `tiled_cpp`, by default the excerpt),
    `pip wheel` (printing cmake progress; from a requirement or from a patched source tree) and `pip install`."""
    venv = root / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(
        f"#!{sys.executable}\n"
        + "import base64, hashlib, io, os, sys, tarfile, zipfile\nfrom pathlib import Path\n"
        + f"TILED_CPP = {TILED_CPP!r}\n"
        + inspect.getsource(make_wheel)
        + inspect.getsource(make_sdist)
        + textwrap.dedent(
            f"""
            args = sys.argv[1:]
            venv = Path({str(venv)!r})
            if args[:3] == ["-m", "pip", "download"]:
                version = next(arg for arg in args if "==" in arg).split("==")[1]
                make_sdist(Path(args[args.index("-d") + 1]), version, {tiled_cpp or TILED_EXCERPT.read_text()!r})
            elif args[:3] == ["-m", "pip", "wheel"]:
                print("CMAKE_ARGS seen by the build:", os.environ.get("CMAKE_ARGS"), flush=True)
                for percent in (10, 50, 100):
                    print(f"[ {{percent}}%] Building CXX object ggml-cpu.dir/ops.cpp.o", flush=True)
                if {build_fails!r}:
                    print("CMake Error: the C++ compiler is broken", flush=True)
                    sys.exit(1)
                target = args[args.index("-v") + 1]
                built_from = os.environ["CMAKE_ARGS"]
                if Path(target).is_dir():
                    version = Path(target).name.split("-")[1]
                    built_from += " | tiled.cpp: " + next(
                        line.strip() for line in (Path(target) / TILED_CPP).read_text().splitlines()
                        if line.strip().startswith("return rows >="))
                else:
                    version = target.split("==")[1]
                make_wheel(Path(args[args.index("-w") + 1]), version, built_from)
            elif args[:3] == ["-m", "pip", "install"]:
                if {install_fails!r}:
                    sys.exit("ERROR: Could not install packages due to an OSError: disk full")
                wheel = Path(args[-1])
                version = wheel.name.split("-")[1]
                site = venv / "lib" / "python3.11" / "site-packages"
                (site / f"llama_cpp_python-{{version}}.dist-info").mkdir(parents=True, exist_ok=True)
                with open(venv / "installs.log", "a") as log:
                    log.write(wheel.name + "\\n")
            else:
                sys.exit(f"unexpected call: {{args}}")
            """
        )
    )
    python.chmod(0o755)
    return venv


def cached_wheel_dir(home: Path, profile: Profile) -> Path:
    """Where ensure_engine caches the wheel of `profile`: its name plus its patch set."""
    return wheel_cache_dir(home, VERSION, build_key(profile.name, patches_for(profile.arch)))


def installs(venv: Path) -> list[str]:
    log = venv / "installs.log"
    return log.read_text().splitlines() if log.exists() else []


def test_wheel_cache_layout_matches_the_build_already_running_on_this_machine() -> None:
    home = default_home({})
    assert wheel_cache_dir(home, "0.3.36", "x86_64-avx512-noamx") == (
        Path.home() / ".cache/livemind/wheels/llama-cpp-python-0.3.36-x86_64-avx512-noamx"
    )


def test_default_home_is_livemind_home_or_the_user_cache() -> None:
    assert default_home({"LIVEMIND_HOME": "/srv/livemind"}) == Path("/srv/livemind")
    assert default_home({"LIVEMIND_HOME": ""}) == Path.home() / ".cache" / "livemind"
    assert default_home({}) == Path.home() / ".cache" / "livemind"


def test_find_cached_wheel_ignores_a_half_written_wheel(tmp_path: Path) -> None:
    complete = make_wheel(tmp_path / "complete", VERSION, "ok")
    partial = tmp_path / "cache" / complete.name
    partial.parent.mkdir()
    partial.write_bytes(complete.read_bytes()[:200])
    assert find_cached_wheel(partial.parent, VERSION) is None
    assert find_cached_wheel(complete.parent, VERSION) == complete
    assert find_cached_wheel(complete.parent, "9.9.9") is None


def test_build_wheel_streams_progress_and_moves_the_wheel_into_the_cache(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path)
    wheel_dir = wheel_cache_dir(tmp_path / "home", VERSION, "x86_64-avx2")
    log_path = build_log_path(tmp_path / "home", VERSION, "x86_64-avx2")
    out = io.StringIO()
    args = get_profile("x86_64-avx2").cmake_args
    wheel = build_wheel(venv / "bin" / "python", VERSION, args, wheel_dir, log_path, out)
    assert wheel.parent == wheel_dir
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("llama_cpp/__init__.py").decode() == f"BUILD = {' '.join(args)!r}\n"
    assert [path.name for path in wheel_dir.parent.iterdir() if path.name.startswith(".build-")] == []
    log = log_path.read_text()
    assert f"CMAKE_ARGS seen by the build: {' '.join(args)}" in log
    assert "[ 100%] Building CXX object" in log
    assert out.getvalue().splitlines()[-1].startswith(f"built {wheel.name} (0:0")


def test_failed_build_raises_with_the_log_tail_and_caches_nothing(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path, build_fails=True)
    wheel_dir = wheel_cache_dir(tmp_path / "home", VERSION, "generic")
    log_path = build_log_path(tmp_path / "home", VERSION, "generic")
    with pytest.raises(BuildError, match="C\\+\\+ compiler is broken") as failure:
        build_wheel(venv / "bin" / "python", VERSION, ("-DGGML_NATIVE=OFF",), wheel_dir, log_path, io.StringIO())
    assert str(log_path) in str(failure.value)
    assert not wheel_dir.exists() or find_cached_wheel(wheel_dir, VERSION) is None
    assert [path.name for path in wheel_dir.parent.iterdir() if path.name.startswith(".build-")] == []


def test_ensure_engine_builds_once_installs_once_and_rebuild_starts_over(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path)
    home = tmp_path / "home"
    profile = get_profile("x86_64-avx2")
    first = ensure_engine(venv, home, VERSION, profile, out=io.StringIO())
    assert (first.built, first.installed) == (True, True)
    marker = read_marker(venv)
    assert marker is not None
    assert (marker.version, marker.profile, marker.kleidiai) == (VERSION, "x86_64-avx2", False)
    assert marker.wheel_sha256 == file_sha256(first.wheel)
    assert marker.cmake_args == profile.cmake_args

    again = ensure_engine(venv, home, VERSION, profile, out=io.StringIO())
    assert (again.built, again.installed) == (False, False)
    assert installs(venv) == [first.wheel.name]

    rebuilt = ensure_engine(venv, home, VERSION, profile, rebuild=True, out=io.StringIO())
    assert (rebuilt.built, rebuilt.installed) == (True, True)
    assert installs(venv) == [first.wheel.name, first.wheel.name]
    assert list(first.wheel.parent.glob("*.whl")) == [rebuilt.wheel]


def test_ensure_engine_clears_staging_left_by_a_killed_build(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path)
    home = tmp_path / "home"
    wheel_dir = cached_wheel_dir(home, get_profile("x86_64-avx2"))
    leftover = wheel_dir.parent / f".build-{wheel_dir.name}~k1ll3d"
    leftover.mkdir(parents=True)
    (leftover / "partial.whl").write_bytes(b"PK")
    # Another profile whose name starts the same way, with its build still running.
    other = wheel_dir.parent / f".build-{wheel_dir.name}-kleidiai~running"
    other.mkdir()
    ensure_engine(venv, home, VERSION, get_profile("x86_64-avx2"), out=io.StringIO())
    assert not leftover.exists()
    assert other.exists(), "a build of another profile may still be running: leave it alone"


def test_failed_install_raises_and_leaves_no_stale_marker(tmp_path: Path) -> None:
    working = fake_venv(tmp_path / "first")
    home = tmp_path / "home"
    ensure_engine(working, home, VERSION, get_profile("x86_64-avx2"), out=io.StringIO())
    broken = fake_venv(tmp_path / "second", install_fails=True)
    (broken / "livemind-engine.json").write_bytes((working / "livemind-engine.json").read_bytes())
    with pytest.raises(BuildError, match="disk full"):
        ensure_engine(broken, home, VERSION, get_profile("generic"), out=io.StringIO())
    assert read_marker(broken) is None


def test_switching_profile_reinstalls_even_for_the_same_version(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path)
    home = tmp_path / "home"
    ensure_engine(venv, home, VERSION, get_profile("x86_64-avx2"), out=io.StringIO())
    switched = ensure_engine(venv, home, VERSION, get_profile("generic"), out=io.StringIO())
    assert switched.installed
    marker = read_marker(venv)
    assert marker is not None and marker.profile == "generic"
    assert not is_installed(venv, VERSION, "x86_64-avx2", False, marker.wheel_sha256)


def test_install_puts_the_cached_wheel_into_a_real_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    home = tmp_path / "home"
    profile = get_profile("x86_64-avx2")
    make_wheel(cached_wheel_dir(home, profile), VERSION, "cached avx2 build")
    result = ensure_engine(venv, home, VERSION, profile, out=io.StringIO())
    assert (result.built, result.installed) == (False, True)
    imported = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import llama_cpp; print(llama_cpp.BUILD)"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert imported.stdout.strip() == "cached avx2 build"
    assert is_installed(venv, VERSION, profile.name, False, result.wheel_sha256, result.patches)


def test_choose_profile_refuses_a_profile_this_cpu_cannot_run_unless_forced(
    sample_cpus: dict[str, ProbeResult],
) -> None:
    zen3 = sample_cpus["epyc-zen3"]
    with pytest.raises(BuildError, match=r"needs avx512f.*SIGILL.*--force"):
        choose_profile(zen3, "x86_64-avx512-noamx", force=False, out=io.StringIO())
    out = io.StringIO()
    assert choose_profile(zen3, "x86_64-avx512-noamx", force=True, out=out).name == "x86_64-avx512-noamx"
    assert "building anyway because of --force" in out.getvalue()


def test_build_cli_prints_the_choice_and_why_then_installs_from_the_cache(tmp_path: Path, host_probe: ProbeResult) -> None:
    venv = fake_venv(tmp_path)
    home = tmp_path / "home"
    expected = select_profile(host_probe)
    make_wheel(cached_wheel_dir(home, expected), VERSION, "cached")
    completed = subprocess.run(
        [sys.executable, "-S", "-m", "native.build", "--venv", str(venv), "--cache-dir", str(home),
         "--version", VERSION],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout
    assert f"profile: {expected.name} ({expected.description})" in output
    assert "why:" in output
    assert f"  {expected.name}: chosen, CPU has" in output
    assert "cached wheel:" in output
    assert installs(venv) == [f"llama_cpp_python-{VERSION}-py3-none-any.whl"]


def test_build_cli_fails_clearly_without_a_venv(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-S", "-m", "native.build", "--venv", str(tmp_path / "nowhere"),
         "--cache-dir", str(tmp_path / "home"), "--version", VERSION],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 1
    assert f"no Python at {tmp_path / 'nowhere' / 'bin' / 'python'}; create the venv first" in completed.stderr


def test_environment_of_the_build_carries_the_profile_cmake_args(tmp_path: Path) -> None:
    # The fake build echoes CMAKE_ARGS into the wheel: the installed module proves what was built.
    venv = fake_venv(tmp_path)
    result = ensure_engine(venv, tmp_path / "home", VERSION, get_profile("neoverse-v2"), kleidiai=True, out=io.StringIO())
    with zipfile.ZipFile(result.wheel) as archive:
        built_with = archive.read("llama_cpp/__init__.py").decode()
    assert "-DGGML_CPU_ARM_ARCH=armv9-a+sve2+i8mm+bf16+fp16+dotprod -DGGML_CPU_KLEIDIAI=ON" in built_with
    assert result.wheel.parent.name == f"llama-cpp-python-{VERSION}-neoverse-v2-kleidiai"
    assert os.environ.get("CMAKE_ARGS") is None or "KLEIDIAI" not in os.environ["CMAKE_ARGS"]


def test_an_x86_build_compiles_the_patched_sdist_and_caches_it_apart_from_an_unpatched_wheel(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path)
    home = tmp_path / "home"
    profile = get_profile("x86_64-avx512-noamx")
    # An unpatched wheel of the same version and profile, as builds before the patches left it.
    make_wheel(wheel_cache_dir(home, VERSION, profile.name), VERSION, "unpatched")
    out = io.StringIO()
    result = ensure_engine(venv, home, VERSION, profile, out=out)
    assert result.built, "the unpatched wheel in the profile's old cache dir must not be taken"
    assert result.patches == ("ggml-tiled-min-batch-32.patch",)
    assert result.wheel.parent == cached_wheel_dir(home, profile)
    assert result.wheel.parent.name.startswith(f"llama-cpp-python-{VERSION}-x86_64-avx512-noamx+p")
    with zipfile.ZipFile(result.wheel) as archive:
        built_from = archive.read("llama_cpp/__init__.py").decode()
    assert "tiled.cpp: return rows >= 32 || ggml_tiled_matmul_forced();" in built_from
    assert "source patches: ggml-tiled-min-batch-32.patch" in out.getvalue()
    marker = read_marker(venv)
    assert marker is not None and marker.patches == ("ggml-tiled-min-batch-32.patch",)
    assert not is_installed(venv, VERSION, profile.name, False, marker.wheel_sha256, ())
    log = build_log_path(home, VERSION, result.wheel.parent.name.removeprefix(f"llama-cpp-python-{VERSION}-"))
    assert "applied 1 patch(es) to llama_cpp_python-0.0.1.tar.gz: ggml-tiled-min-batch-32.patch" in log.read_text()


def test_a_build_whose_patch_does_not_apply_stops_before_compiling_and_caches_nothing(tmp_path: Path) -> None:
    changed_upstream = TILED_EXCERPT.read_text().replace("return rows >= 8 ||", "return rows >= 16 ||")
    venv = fake_venv(tmp_path, tiled_cpp=changed_upstream)
    home = tmp_path / "home"
    profile = get_profile("x86_64-avx2")
    with pytest.raises(BuildError, match=r"patch ggml-tiled-min-batch-32\.patch does not apply.*Hunk #1 FAILED"):
        ensure_engine(venv, home, VERSION, profile, out=io.StringIO())
    assert find_cached_wheel(cached_wheel_dir(home, profile), VERSION) is None
    assert read_marker(venv) is None
    assert installs(venv) == []


def test_arm_and_generic_builds_carry_no_patch_and_keep_their_cache_dir(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path)
    result = ensure_engine(venv, tmp_path / "home", VERSION, get_profile("generic"), out=io.StringIO())
    assert result.patches == ()
    assert result.wheel.parent == wheel_cache_dir(tmp_path / "home", VERSION, "generic")
    with zipfile.ZipFile(result.wheel) as archive:
        assert "tiled.cpp" not in archive.read("llama_cpp/__init__.py").decode(), "built from the requirement, no sdist"
