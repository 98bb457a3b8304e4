"""Cross-process reader/writer locks around the DuckDB files, so no run ever fails on a DuckDB lock.

DuckDB allows one read-write process per file, and even a READ_ONLY open fails at once while another process writes
(it does not wait). The Airflow pools serialise writers of the *same* file, but two different DAGs still meet on a
raw file: `extract_<p>` writes `raw_<p>.duckdb` while the transform's dbt attaches every raw file read-only. So:

- an extraction holds an exclusive lock on `locks/raw_<p>.lock` for the whole dlt run (writers of one file queue up);
- dbt runs through `dagkit/dbt_with_locks.py`, which holds shared locks on every raw file and an exclusive lock on
  the warehouse for the life of the dbt process (readers share, and wait for a writer instead of failing).

`fcntl.flock` is hand-written here because it is the one primitive that works across Airflow task processes, dbt
subprocesses and anything a developer runs by hand, and the OS releases it if a holder crashes. Locks are taken in
sorted order, so two holders can never deadlock. Local filesystems only (as DuckDB's own locking).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from dagkit.paths import data_dir

log = logging.getLogger("opsdata.locks")

DEFAULT_TIMEOUT_SECONDS = 2 * 3600.0


class LockTimeout(TimeoutError):
    """Waited longer than the timeout for another process to release a DuckDB file."""


def lock_path(name: str) -> Path:
    folder = data_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.lock"


@contextmanager
def _flock(name: str, *, shared: bool, timeout: float, poll: float) -> Iterator[None]:
    path = lock_path(name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    started = time.monotonic()
    warned = False
    try:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited > timeout:
                    raise LockTimeout(f"waited {waited:.0f}s for {path} ({'shared' if shared else 'exclusive'})") from None
                if not warned:
                    log.info("waiting for %s (%s): another process is using this DuckDB file", path.name, "shared" if shared else "exclusive")
                    warned = True
                time.sleep(poll)
        if warned:
            log.info("acquired %s after %.1fs", path.name, time.monotonic() - started)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def duckdb_locks(
    *, exclusive: Iterable[str] = (), shared: Iterable[str] = (), timeout: float = DEFAULT_TIMEOUT_SECONDS, poll: float = 0.2
) -> Iterator[None]:
    """Hold the named locks (e.g. `raw_<provider>`, `warehouse`) for the duration of the block."""
    wanted = {name: False for name in shared}
    wanted.update({name: True for name in exclusive})
    with ExitStack() as stack:
        for name in sorted(wanted):
            stack.enter_context(_flock(name, shared=not wanted[name], timeout=timeout, poll=poll))
        yield


def raw_lock_name(provider: str) -> str:
    return f"raw_{provider}"


WAREHOUSE_LOCK = "warehouse"
