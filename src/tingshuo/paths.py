"""Output paths, checked before the work that fills them."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import TingshuoError


def check_writable(path: Path, option: str = "-o") -> None:
    """Fail before minutes of work, not after: a folder, a missing folder, no permission."""
    folder = path.expanduser().resolve().parent
    if path.is_dir():
        raise TingshuoError(f"{path}: is a folder; give a file name for {option}")
    if not folder.is_dir():
        raise TingshuoError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise TingshuoError(f"{path}: not writable; choose another {option} path")
