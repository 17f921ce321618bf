"""llama.cpp for the engines that run a GGUF model: the translator (mt) and the second pass
over captions (asr). Here, below both, so that neither imports the other."""

from __future__ import annotations

from pathlib import Path

from .errors import ModelError
from .models import resolve
from .priority import spinning_openmp


def gguf_path(name_or_path: str, cache_dir: Path) -> Path:
    """A bundled model name, a .gguf file, or a folder that holds exactly one."""
    path = resolve(name_or_path, cache_dir)
    if path.is_dir():
        files = sorted(path.glob("*.gguf"))
        if len(files) != 1:
            raise ModelError(f"{path}: expected one .gguf file in the folder, found {len(files)}")
        path = files[0]
    return path


def import_llama() -> type:
    """The `Llama` class (ModelError when llama-cpp-python is not installed), its OpenMP
    runtime loaded to spin, not wait passively (`priority.spinning_openmp`)."""
    with spinning_openmp():
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise ModelError(
                "llama-cpp-python is not installed: pip install 'llama-cpp-python==0.3.36'"
            ) from e
    return Llama
