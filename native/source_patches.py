"""Patches to the llama.cpp that the engine wheel is built from, and how a build applies them.

    native/patches/<name>.patch    one unified diff, paths relative to the sdist's top directory
                                   (`a/vendor/llama.cpp/...`), a `#` header saying what, why, the
                                   measured figures and the upstream status

`PATCHES` lists which patch goes into which build: a patch names the profile architectures it is
for. A build with patches downloads the llama-cpp-python sdist, unpacks it, applies its patches
with `patch -p1 --forward --fuzz=0` (all of them checked with `--dry-run` first, so a patch that
does not apply stops the build before anything is compiled) and builds the wheel from that tree.
`patch_set_id` names the set by the patches' names and bytes; it goes into the wheel cache's
directory name and the venv marker, so a patched and an unpatched wheel are never confused.
"""

import hashlib
import re
import subprocess
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError
from .home import ENGINE_PACKAGE

PATCH_DIR = Path(__file__).resolve().parent / "patches"
_PATCH_TIMEOUT_SECONDS = 120
# What patch(1) says about a hunk or a file it could not handle; the rest of its output echoes the patch.
_PATCH_TROUBLE = re.compile(r"^(checking file|Hunk #|\d+ out of \d+ hunks?|can't find file|No file to patch|Reversed|patch:)")


@dataclass(frozen=True)
class SourcePatch:
    """One unified diff in native/patches/ and the profile architectures it is applied for."""

    name: str
    arches: frozenset[str]

    @property
    def path(self) -> Path:
        """The diff's file."""
        return PATCH_DIR / self.name

    def applies_to(self, arch: str) -> bool:
        """Whether a build for a profile of `arch` ("x86_64", "aarch64", "any") gets this patch."""
        return arch in self.arches


PATCHES: tuple[SourcePatch, ...] = (
    # ggml's tiled K-quant matmul is compiled only with AVX/AVX2/AVX512-VNNI: an x86 matter.
    SourcePatch("ggml-tiled-min-batch-32.patch", frozenset({"x86_64"})),
)
"""Every patch the engine build knows, in the order a build applies them."""


def patches_for(arch: str) -> tuple[SourcePatch, ...]:
    """The patches a build for a profile of `arch` applies, in order."""
    return tuple(patch for patch in PATCHES if patch.applies_to(arch))


def patch_by_name(name: str) -> SourcePatch:
    """The known patch called `name` (a venv marker records names)."""
    for patch in PATCHES:
        if patch.name == name:
            return patch
    raise BuildError(f"unknown engine patch {name!r}; known: {', '.join(p.name for p in PATCHES) or 'none'}")


def patch_set_id(patches: Sequence[SourcePatch]) -> str:
    """A short name for a patch set: empty without patches, else 10 hex digits of its names and bytes."""
    if not patches:
        return ""
    digest = hashlib.sha256()
    for patch in patches:
        digest.update(patch.name.encode() + b"\0")
        digest.update(patch.path.read_bytes() + b"\0")
    return digest.hexdigest()[:10]


def build_key(build_name: str, patches: Sequence[SourcePatch]) -> str:
    """The build's name in cache paths: the profile's, plus `+p<patch set id>` when patched."""
    patch_id = patch_set_id(patches)
    return f"{build_name}+p{patch_id}" if patch_id else build_name


def unpack_sdist(sdist: Path, into: Path) -> Path:
    """Unpack a source archive into `into`; return its top directory."""
    with tarfile.open(sdist) as archive:
        tops = {member.name.split("/", 1)[0] for member in archive.getmembers()}
        if len(tops) != 1:
            raise BuildError(f"{sdist.name} has {len(tops)} top directories, not one: not an sdist")
        archive.extractall(into, filter="data")
    return into / tops.pop()


def apply_patches(source: Path, patches: Sequence[SourcePatch], *, what: str = ENGINE_PACKAGE) -> None:
    """Apply `patches` to the source tree at `source`, checking each with --dry-run first.

    A patch that does not apply raises BuildError naming the patch and the hunks patch(1) refused.
    """
    for patch in patches:
        _run_patch(source, patch, what, dry_run=True)
        _run_patch(source, patch, what, dry_run=False)


def _run_patch(source: Path, patch: SourcePatch, what: str, *, dry_run: bool) -> None:
    command = ["patch", "-p1", "--forward", "--batch", "--fuzz=0", "--no-backup-if-mismatch", "-i", str(patch.path)]
    if dry_run:
        command.append("--dry-run")
    try:
        done = subprocess.run(command, cwd=source, capture_output=True, text=True,
                              timeout=_PATCH_TIMEOUT_SECONDS, check=False)  # fmt: skip
    except FileNotFoundError as error:
        raise BuildError("the engine build applies source patches with patch(1): install it (apt-get install patch)") from error
    if done.returncode == 0:
        return
    trouble = [line.strip() for line in (done.stdout + done.stderr).splitlines() if _PATCH_TROUBLE.match(line.strip())]
    raise BuildError(
        f"patch {patch.name} does not apply to the {what} source in {source}: "
        + "; ".join(trouble or [f"patch exited with status {done.returncode}"])
        + f". Update or drop {patch.path} (and its entry in PATCHES, {__name__})."
    )
