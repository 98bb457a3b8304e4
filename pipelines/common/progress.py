"""How far a running extraction is, for whoever watches it from another process (the demo's progress lines).

With `OPSDATA_PROGRESS_DIR` set, each run keeps `<dir>/<provider>.json` current: dlt's step (extract, normalize,
load), the rows extracted so far per table (dlt's own counters, through its progress-collector interface) and the
requests (pages) made so far. Unset, nothing is written and dlt keeps its silent default collector.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from dlt.common.runtime.collector import Collector

from pipelines.common.http import request_counts

PROGRESS_DIR_ENV = "OPSDATA_PROGRESS_DIR"


class ProgressFile(Collector):
    """A dlt collector that writes the counts to a JSON file, at most once per `period` seconds (atomically)."""

    def __init__(self, provider: str, path: Path, period: float = 1.0) -> None:
        self.provider, self.path, self.period = provider, path, period
        self.step = ""
        self.rows: Counter[str] = Counter()
        self._requests_before = request_counts[provider]
        self._written = 0.0

    def update(self, name: str, inc: int = 1, total: int | None = None, inc_total: int | None = None,
               message: str | None = None, label: str | None = None) -> None:
        if self.step.startswith("Extract") and name != "Resources" and not label and not name.startswith("_dlt"):
            self.rows[name] += inc
        if time.monotonic() - self._written >= self.period:
            self.write()

    def _start(self, step: str) -> None:
        self.step = step
        self.write()

    def _stop(self) -> None:
        self.write()

    def write(self) -> None:
        self._written = time.monotonic()
        state: dict[str, Any] = {
            "provider": self.provider,
            "step": self.step.split(" ")[0].lower(),
            "rows": dict(self.rows),
            "requests": request_counts[self.provider] - self._requests_before,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.path)


def progress_collector(provider: str) -> ProgressFile | None:
    folder = os.environ.get(PROGRESS_DIR_ENV)
    return ProgressFile(provider, Path(folder) / f"{provider}.json") if folder else None

