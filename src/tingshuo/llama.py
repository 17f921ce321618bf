"""llama.cpp for the engines that run a GGUF model: the translator (mt) and the second pass
over captions (asr). Here, below both, so that neither imports the other."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ModelError
from .models import resolve


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
    """The `Llama` class (ModelError when llama-cpp-python is not installed).

    llama.cpp's own OpenMP runtime, which reads its settings when it loads, lets its two
    threads spin briefly between steps (a token takes ~40 ms in hundreds of steps): with
    the passive waiting the recognizer's runtime needs, a caption took 1.3 s, not 0.9 s."""
    saved = os.environ.pop("OMP_WAIT_POLICY", None)
    try:
        from llama_cpp import Llama
    except ImportError as e:
        raise ModelError(
            "llama-cpp-python is not installed: pip install 'llama-cpp-python==0.3.36'"
        ) from e
    finally:
        if saved is not None:
            os.environ["OMP_WAIT_POLICY"] = saved
    return Llama
