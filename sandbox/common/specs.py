"""The official API specs the simulators are built on and the tests validate against.

They live in the repo's `specs/` folder (gzipped copies of the providers' published files, provenance and licences
in `specs/README.md`), so a clone anywhere has them: the Shopify simulator needs its schema at run time.
`OPSDATA_SPECS_DIR` points elsewhere (e.g. at a newer, uncompressed copy); a file is found as `<name>` or `<name>.gz`.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

REPO_SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"


def specs_dir() -> Path:
    return Path(os.environ.get("OPSDATA_SPECS_DIR") or REPO_SPECS_DIR)


def spec_path(relative: str) -> Path:
    """`<specs>/<relative>`, or its `.gz` copy; a clear error naming both if neither exists."""
    plain = specs_dir() / relative
    for candidate in (plain, plain.with_name(plain.name + ".gz")):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"API spec {relative!r} not found as {plain} or {plain}.gz (set OPSDATA_SPECS_DIR?)")


def read_spec_bytes(relative: str) -> bytes:
    path = spec_path(relative)
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def read_spec_text(relative: str) -> str:
    return read_spec_bytes(relative).decode("utf-8")


def load_json_spec(relative: str) -> Any:
    return json.loads(read_spec_bytes(relative))
