"""The journal of pending writes: one JSON line per write, in a file this process holds locked,
so that what a process leaves behind when it stops is written in by the next one."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from platformdirs import user_data_dir
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


def journal_dir(database_url: str) -> Path:
    """Where a database's pending writes are journaled: beside a SQLite file, else in the
    user's data folder under a name taken from the URL (without its password)."""
    url = make_url(database_url)
    if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
        path = Path(url.database).expanduser()
        return path.with_name(path.name + ".pending")
    name = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return Path(user_data_dir("tingshuo")) / "pending" / name


class Journal:
    """This process's journal in `folder`. Without one (an unwritable folder) the pending
    writes are kept in memory only; the caller holds its lock around every call."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._file: IO[str] | None = None
        self._on_disk = True  # the journal holds every pending write
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"pending-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
            journal = path.open("a+", encoding="utf-8")
            fcntl.flock(journal, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._file = journal
        except OSError as e:
            log.error("no journal for pending writes (kept in memory): %s", e)

    def append(self, op: dict[str, Any]) -> None:
        """Journal a write, where the disk allows."""
        if self._file is None or not self._on_disk:
            return
        try:
            self._file.write(json.dumps(op, ensure_ascii=False) + "\n")
            self._file.flush()
        except OSError as e:
            self._on_disk = False
            log.error("pending writes are kept in memory only: %s", e.strerror or e)

    def rewrite(self, ops: Iterable[dict[str, Any]]) -> None:
        """Empty once everything is written; rewritten whole when it had fallen behind."""
        if self._file is None:
            return
        try:
            self._file.seek(0)
            self._file.truncate()
            for op in ops:
                self._file.write(json.dumps(op, ensure_ascii=False) + "\n")
            self._file.flush()
            if not self._on_disk:
                log.info("pending writes are journaled again")
            self._on_disk = True
        except OSError:
            self._on_disk = False

    def others(self) -> list[Path]:
        """The other journals in the folder (none while this process has no journal)."""
        if self._file is None:
            return []
        ours = Path(self._file.name).name
        return [p for p in sorted(self.folder.glob("pending-*.jsonl")) if p.name != ours]

    def close(self, empty: bool) -> None:
        """Closed, and deleted when `empty` (nothing is left to write)."""
        if self._file is None:
            return
        name = self._file.name
        try:
            self._file.close()
            if empty:
                Path(name).unlink(missing_ok=True)
        except OSError as e:  # a full disk: the journal is as complete as it could be
            log.error("the journal of pending writes did not close cleanly: %s", e)
        self._file = None


def left_behind(path: Path) -> list[dict[str, Any]] | None:
    """The writes in another process's journal; None while that process still runs (it holds
    the lock) or the file cannot be read."""
    try:
        with path.open("r", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # its owner still runs?
            lines = f.read().splitlines()
    except OSError:
        return None
    ops = []
    for line in lines:
        try:
            ops.append(json.loads(line))
        except json.JSONDecodeError:  # the line a crash cut short
            continue
    return ops
