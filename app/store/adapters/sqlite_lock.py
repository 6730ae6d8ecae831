"""Single ownership of a SQLite store (``store.single_owner``): a ``flock`` on ``<file>.lock``.

With the setting on, the second process on one file refuses to start, naming the file and
the owner. The lock is the kernel's: it ends with the process (a crash or SIGKILL too), so a
stale lock file never blocks a restart; the file's text (pid, host, start time) only serves
the message. Within one process the lock is shared: every store of the process on that file
counts one holder.
"""

from __future__ import annotations

import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

from app.errors import StoreInUseError

try:  # POSIX; elsewhere the store runs without the guard (see docs/deployment.md)
    import fcntl
except ImportError:  # pragma: no cover - not on the supported platforms
    fcntl = None  # type: ignore[assignment]

__all__ = ["StoreInUseError", "StoreLock", "lock_path_of"]

_HELD: dict[str, tuple[int, int]] = {}  # lock path -> (fd, holders in this process)
_GUARD = threading.Lock()


def lock_path_of(db_path: str | Path) -> Path:
    """The lock file beside a database file: ``<file>.lock``."""
    path = Path(db_path)
    return path.with_name(path.name + ".lock")


def _owner_text() -> str:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    return f"pid={os.getpid()} host={socket.gethostname()} started={started}\n"


def _describe_owner(fd: int) -> str:
    try:
        raw = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
    except OSError:
        raw = ""
    fields = dict(part.split("=", 1) for part in raw.split() if "=" in part)
    if "pid" not in fields:
        return "another process"
    where = f" on host {fields['host']}" if fields.get("host") else ""
    since = f", running since {fields['started']}" if fields.get("started") else ""
    return f"process {fields['pid']}{where}{since}"


class StoreLock:
    """The ownership of one SQLite file by this process.

    Args:
        db_path: the database file (its folder must exist).
    """

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        self.path = lock_path_of(db_path)
        self._key = os.path.realpath(self.path)
        self._held = False

    def acquire(self) -> None:
        """Take the lock (or count one more holder when this process has it already).

        Raises:
            StoreInUseError: another process holds it; the message names the file and pid.
        """
        if self._held or fcntl is None:
            return
        with _GUARD:
            held = _HELD.get(self._key)
            if held is not None:
                _HELD[self._key] = (held[0], held[1] + 1)
                self._held = True
                return
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _describe_owner(fd)
                os.close(fd)
                raise StoreInUseError(
                    f"the SQLite store {self.db_path} is in use by {owner} "
                    f"(lock file {self.path}) and store.single_owner is on: stop that "
                    "process, give this one its own file (store.sqlite_path, e.g. "
                    "WORLDGATE__STORE__SQLITE_PATH=var/second.sqlite3), or turn "
                    "store.single_owner off to let several processes share the file"
                ) from None
            except BaseException:
                os.close(fd)
                raise
            os.ftruncate(fd, 0)
            os.pwrite(fd, _owner_text().encode(), 0)
            _HELD[self._key] = (fd, 1)
            self._held = True

    def release(self) -> None:
        """Drop this holder; the last one of the process unlocks and closes the file."""
        if not self._held:
            return
        self._held = False
        with _GUARD:
            fd, count = _HELD[self._key]
            if count > 1:
                _HELD[self._key] = (fd, count - 1)
                return
            del _HELD[self._key]
            os.close(fd)  # closing the descriptor releases the flock
