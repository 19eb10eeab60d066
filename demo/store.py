"""What the demo keeps between events, kept small and bounded.

``LRUCache``: at most ``capacity`` items, the least recently used dropped first (the demo's predictions and
previews, keyed by ``content_key`` of their inputs). ``SessionFiles``: the result files of each session in one
folder, a new file replacing the session's previous one of that name, at most ``max_sessions`` sessions kept.
"""

import hashlib
import shutil
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, Hashable

import PIL.Image


def content_key(*parts: bytes | str) -> str:
    """A short hex digest of the parts (file contents, settings): the cache key of what they produce."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


class LRUCache:
    """A thread-safe mapping of at most ``capacity`` items; adding one more drops the least recently used."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.items: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        """The value (now the most recently used), or None."""
        with self.lock:
            if key not in self.items:
                return None
            self.items.move_to_end(key)
            return self.items[key]

    def put(self, key: Hashable, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.capacity:
                self.items.popitem(last=False)

    def pop(self, key: Hashable) -> None:
        """Forget ``key`` (nothing happens if it is not there)."""
        with self.lock:
            self.items.pop(key, None)

    def __len__(self) -> int:
        return len(self.items)


class SessionFiles:
    """Result files under ``root``/<folder>/<token>/<name>, where <folder> is a random name this object gives each
    session: the session id a client sends is only a key, never part of a path, so no id (``../x``, ``/``) can
    point a write or a delete outside ``root``. Saving a name again deletes the session's previous file of that
    name (a fresh token gives the browser a fresh URL), and saving for more than ``max_sessions`` sessions deletes
    the least recently used session's folder."""

    def __init__(self, root: Path, max_sessions: int):
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
        self.root, self.max_sessions = Path(root).resolve(), max_sessions
        self.folders: OrderedDict[str, Path] = OrderedDict()  # session id -> its folder, least recently used first
        self.lock = threading.Lock()

    def save(self, session: str, name: str, image: PIL.Image.Image, **options) -> str:
        """Write ``image`` as ``name`` (format from its suffix, PIL ``options``) for ``session``; returns the path."""
        path = self.new_path(session, name)
        image.save(path, **options)
        return str(path)

    def new_path(self, session: str, name: str, replaces: str | None = None) -> Path:
        """A fresh path for the file ``name`` (a plain file name) of ``session`` (its folder exists, the session's
        previous files named ``replaces``, a glob pattern defaulting to ``name``, are deleted); the caller writes
        it."""
        if Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"a session file name must be a plain file name, got {name!r}")
        with self.lock:
            folder = self.folders.pop(session, None) or self.root / uuid.uuid4().hex
            self.folders[session] = folder
            while len(self.folders) > self.max_sessions:
                shutil.rmtree(self.folders.popitem(last=False)[1], ignore_errors=True)
            for old in folder.glob(f"*/{replaces or name}"):
                shutil.rmtree(old.parent, ignore_errors=True)
            path = folder / uuid.uuid4().hex / name
            path.parent.mkdir(parents=True)
        return path

    def close(self, session: str) -> None:
        """Delete every file of ``session``."""
        with self.lock:
            folder = self.folders.pop(session, None)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def files(self) -> list[Path]:
        """Every file currently kept, all sessions."""
        return sorted(p for p in self.root.glob("*/*/*") if p.is_file())
