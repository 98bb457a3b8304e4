"""Run the sandbox as a separate process (demo, benchmarks): its CPU work then does not compete with the client's
GIL, as a real remote API would not."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def sandbox_process(scale: str = "medium", latency: str = "realistic", seed: int = 42, options: dict[str, str] | None = None, port: int | None = None) -> Iterator[str]:
    """Start `python -m sandbox serve` and yield its base URL; stop it on exit."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "sandbox", "serve", "--port", str(port), "--scale", scale, "--latency", latency, "--seed", str(seed)]
    for key, value in (options or {}).items():
        cmd += ["--option", f"{key}={value}"]
    proc = subprocess.Popen(cmd)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/_sandbox/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox did not start (exit code {proc.poll()})")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
