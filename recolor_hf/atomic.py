"""Atomic writes: an output is written to a temporary file beside it and renamed over it only once complete, so a
crash never leaves a half-written file, and a failure leaves an existing file as it was.

Temporary names are ``.<name>.<random>.tmp`` (``temporary_prefix``); ``remove_stale_temporaries`` deletes the
ones a killed process left behind, and only those.
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

TEMP_SUFFIX = ".tmp"
TEMP_NAME_CHARS = 8  # length of the random part of tempfile.mkstemp names
FILE_MODE = 0o666  # the usual permissions of a new file, before the umask


def temporary_prefix(path: Path) -> str:
    """Name prefix of the temporary files for ``path``."""
    return f".{path.name}."


def remove_stale_temporaries(path: Path) -> None:
    """Delete the temporary files a killed run left next to ``path`` (only names ``atomic_path`` makes for it)."""
    pattern = re.compile(re.escape(temporary_prefix(path)) + rf"[a-z0-9_]{{{TEMP_NAME_CHARS}}}"
                         + re.escape(TEMP_SUFFIX))
    if path.parent.is_dir():
        for stale in path.parent.iterdir():
            if pattern.fullmatch(stale.name) and stale.is_file():
                stale.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path`` for a writer that takes a file name: renamed to ``path`` when the block
    ends, deleted if it fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path), suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, FILE_MODE & ~umask)  # mkstemp makes the file private; give it the usual permissions
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through (``atomic_path``), flushed to disk before the rename."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        yield f
        f.flush()
        os.fsync(f.fileno())
