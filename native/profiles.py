"""Build profiles: which llama-cpp-python CMAKE_ARGS suit which CPU.

The profiles themselves live in `profiles.toml`, in order from most to least
specific. `select_profile` takes the first one that fits a probe result.
"""

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from .errors import ProfileError
from .home import BOOTSTRAP_PACKAGE
from .probe import ProbeResult

PROFILES_PATH = Path(__file__).with_name("profiles.toml")
KLEIDIAI_SUFFIX = "-kleidiai"
KLEIDIAI_FLAG = "KLEIDIAI"

_ARCHES = ("x86_64", "aarch64", "any")
# Profile names become directory names in the wheel cache.
_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")
_FIELDS = {
    "name",
    "arch",
    "description",
    "cpus",
    "requires",
    "cmake_args",
    "kleidiai_args",
    "expected_system_info",
    "auto_select",
    "sources",
}


@dataclass(frozen=True)
class Profile:
    """One way to build the engine: the CPUs it is for and the CMAKE_ARGS that do it."""

    name: str
    arch: str
    description: str
    cpus: tuple[str, ...]
    requires: tuple[str, ...]
    cmake_args: tuple[str, ...]
    kleidiai_args: tuple[str, ...]
    expected_system_info: tuple[str, ...]
    auto_select: bool
    sources: tuple[str, ...]

    @property
    def has_kleidiai_variant(self) -> bool:
        """Whether this profile offers the optional KleidiAI build."""
        return bool(self.kleidiai_args)

    def missing_features(self, probe_result: ProbeResult) -> list[str]:
        """Return the required features that the probe did not find, in profile order."""
        features = probe_result["features"]
        return [name for name in self.requires if not features.get(name, False)]

    def fits_arch(self, arch: str) -> bool:
        """Whether this profile can be built for a CPU of this architecture."""
        return self.arch in ("any", arch)

    def fits(self, probe_result: ProbeResult) -> bool:
        """Whether a CPU with these probe results can run this profile's build."""
        return self.fits_arch(probe_result["arch"]) and not self.missing_features(probe_result)

    def build_name(self, *, kleidiai: bool = False) -> str:
        """Name of the build in the wheel cache: the profile name, plus a KleidiAI suffix."""
        return self.name + KLEIDIAI_SUFFIX if kleidiai else self.name

    def cmake_args_for(self, *, kleidiai: bool = False) -> tuple[str, ...]:
        """CMAKE_ARGS for this profile, with the KleidiAI variant's flags if asked for."""
        if kleidiai and not self.has_kleidiai_variant:
            raise ProfileError(f"profile {self.name} has no KleidiAI variant (aarch64 only)")
        return self.cmake_args + self.kleidiai_args if kleidiai else self.cmake_args

    def expected_flags(self, *, kleidiai: bool = False) -> tuple[str, ...]:
        """Flags `llama_print_system_info()` shows as "= 1" for this build."""
        extra = (KLEIDIAI_FLAG,) if kleidiai else ()
        return self.expected_system_info + extra

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-able copy."""
        return asdict(self)


def load_profiles(path: Path = PROFILES_PATH) -> tuple[Profile, ...]:
    """Read and check the profile list, most specific first."""
    return _load_profiles_cached(path.resolve())


@cache
def _load_profiles_cached(path: Path) -> tuple[Profile, ...]:
    try:
        document = tomllib.loads(path.read_text())
    except OSError as error:
        raise ProfileError(f"cannot read build profiles {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"build profiles {path} are not valid TOML: {error}") from error
    entries = document.get("profile")
    if not isinstance(entries, list) or not entries:
        raise ProfileError(f"build profiles {path} define no [[profile]] entries")
    profiles = tuple(_parse_profile(entry, path) for entry in entries)
    names = [profile.name for profile in profiles]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ProfileError(f"build profiles {path} repeat the names {', '.join(duplicates)}")
    return profiles


def _parse_profile(entry: object, path: Path) -> Profile:
    if not isinstance(entry, Mapping):
        raise ProfileError(f"{path}: every [[profile]] must be a table")
    name = entry.get("name", "?")
    missing = sorted(_FIELDS - entry.keys())
    unknown = sorted(entry.keys() - _FIELDS)
    if missing or unknown:
        raise ProfileError(f"{path}: profile {name} is missing {missing or 'nothing'} and has unknown {unknown or 'nothing'}")
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise ProfileError(f"{path}: profile name {name!r} must be lowercase letters, digits, '.', '_' or '-'")
    if entry["arch"] not in _ARCHES:
        raise ProfileError(f"{path}: profile {name} has arch {entry['arch']!r}, not one of {_ARCHES}")
    cmake_args = _strings(entry, "cmake_args", path)
    if "-DGGML_NATIVE=OFF" not in cmake_args:
        # A native build compiles for whatever the build host advertises, AMX included.
        raise ProfileError(f"{path}: profile {name} must set -DGGML_NATIVE=OFF")
    if not isinstance(entry["auto_select"], bool):
        raise ProfileError(f"{path}: profile {name} needs auto_select = true or false")
    return Profile(
        name=_string(entry, "name", path),
        arch=_string(entry, "arch", path),
        description=_string(entry, "description", path),
        cpus=_strings(entry, "cpus", path),
        requires=_strings(entry, "requires", path),
        cmake_args=cmake_args,
        kleidiai_args=_strings(entry, "kleidiai_args", path),
        expected_system_info=_strings(entry, "expected_system_info", path),
        auto_select=entry["auto_select"],
        sources=_strings(entry, "sources", path),
    )


def _string(entry: Mapping[str, object], key: str, path: Path) -> str:
    value = entry[key]
    if not isinstance(value, str) or not value:
        raise ProfileError(f"{path}: {key} of profile {entry.get('name')} must be a non-empty string")
    return value


def _strings(entry: Mapping[str, object], key: str, path: Path) -> tuple[str, ...]:
    value = entry[key]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProfileError(f"{path}: {key} of profile {entry.get('name')} must be a list of strings")
    return tuple(value)


def get_profile(name: str, profiles: Sequence[Profile] | None = None) -> Profile:
    """Return the profile called `name`."""
    candidates = load_profiles() if profiles is None else profiles
    for profile in candidates:
        if profile.name == name:
            return profile
    known = ", ".join(profile.name for profile in candidates)
    raise ProfileError(f"unknown build profile {name!r}; known profiles: {known}")


def select_profile(probe_result: ProbeResult, profiles: Sequence[Profile] | None = None) -> Profile:
    """Pick the most specific auto-selectable profile whose requirements the CPU meets."""
    candidates = load_profiles() if profiles is None else profiles
    for profile in candidates:
        if profile.auto_select and profile.fits(probe_result):
            return profile
    raise ProfileError("no build profile fits this CPU; profiles.toml must end with 'generic'")


def explain_selection(probe_result: ProbeResult, profiles: Sequence[Profile] | None = None) -> list[str]:
    """Say, profile by profile, why each was skipped until one was chosen."""
    candidates = load_profiles() if profiles is None else profiles
    lines: list[str] = []
    arch = probe_result["arch"]
    for profile in candidates:
        if not profile.fits_arch(arch):
            continue
        missing = profile.missing_features(probe_result)
        if missing:
            lines.append(f"{profile.name}: skipped, CPU lacks {', '.join(missing)}")
        elif not profile.auto_select:
            lines.append(f"{profile.name}: CPU fits, but opt-in only (--profile {profile.name})")
        else:
            has = ", ".join(profile.requires) if profile.requires else "nothing beyond the baseline"
            lines.append(f"{profile.name}: chosen, CPU has {has}")
            break
    return lines


def fit_problems(profile: Profile, probe_result: ProbeResult) -> list[str]:
    """Return why a build of `profile` would not run on this CPU (empty if it would)."""
    if not profile.fits_arch(probe_result["arch"]):
        return [f"profile {profile.name} is for {profile.arch}, this CPU is {probe_result['arch']}"]
    missing = profile.missing_features(probe_result)
    if missing:
        return [f"profile {profile.name} needs {', '.join(missing)}, which this CPU lacks"]
    return []


def fallback_profile(probe_result: ProbeResult, failed: str, profiles: Sequence[Profile] | None = None) -> Profile:
    """Return the profile to try after a build of `failed` crashed on this CPU.

    If the failed profile never fitted this CPU, that is the best fit; otherwise the
    next fitting profile below it. `generic` is the end of the line.
    """
    candidates = load_profiles() if profiles is None else profiles
    best = select_profile(probe_result, candidates)
    names = [profile.name for profile in candidates]
    if failed not in names or (failed != best.name and not get_profile(failed, candidates).fits(probe_result)):
        return best
    for profile in candidates[names.index(failed) + 1 :]:
        if profile.auto_select and profile.fits(probe_result):
            return profile
    return candidates[-1]


def rebuild_command(profile_name: str, venv: str = ".venv") -> str:
    """The exact shell command that rebuilds and reinstalls the engine with a profile."""
    return f"python3 -m {BOOTSTRAP_PACKAGE}.build --venv {venv} --profile {profile_name} --rebuild"
