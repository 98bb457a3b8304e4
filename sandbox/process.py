"""Run the sandbox as a separate process (demo, benchmarks): its CPU work then does not compete with the client's
GIL, as a real remote API would not."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def sandbox_process(
    scale: str = "medium",
    latency: str = "realistic",
    seed: int = 42,
    options: dict[str, str] | None = None,
    port: int | None = None,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    startup_seconds: float = 60,
) -> Iterator[str]:
    """Start `python -m sandbox serve` and yield its base URL once healthy; stop it on exit.
    `log_path`: where its output goes (default: inherited), named in the error if it fails to start."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "sandbox", "serve", "--port", str(port), "--scale", scale, "--latency", latency, "--seed", str(seed)]
    for key, value in (options or {}).items():
        cmd += ["--option", f"{key}={value}"]
    with ExitStack() as stack:
        log = stack.enter_context(log_path.open("w")) if log_path else None
        proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT if log else None)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + startup_seconds  # the xlarge world takes minutes to generate on a busy machine
            while True:
                try:
                    if requests.get(f"{url}/_sandbox/health", timeout=1).ok:
                        break
                except requests.RequestException:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    where = f"; see {log_path}" if log_path else ""
                    raise RuntimeError(f"sandbox did not start (exit code {proc.poll()}){where}")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
