"""The official API specs the simulators are built on and the tests validate against.

They live in the repo's `specs/` folder (gzipped copies of the providers' published files, provenance and licences
in `specs/README.md`), so a clone anywhere has them: the Shopify simulator needs its schema at run time.
`OPSDATA_SPECS_DIR` points elsewhere (e.g. at a newer, uncompressed copy); a file is found as `<name>` or `<name>.gz`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("sandbox")

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


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "opsdata" / "specs"


def load_yaml_spec(relative: str) -> Any:
    """A YAML spec (Stripe's, 4 MB) parsed once and kept as JSON in the user's cache, keyed by the file's hash:
    parsing the YAML takes seconds, reading the JSON a tenth of one. The vendored file stays as published."""
    raw = read_spec_bytes(relative)
    cached = cache_dir() / f"{hashlib.sha256(raw).hexdigest()[:24]}.json"
    try:
        return json.loads(cached.read_bytes())
    except (OSError, ValueError):
        pass
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(raw, Loader=loader)  # noqa: S506 - a safe loader, chosen above
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=cached.parent, delete=False, suffix=".tmp") as tmp:
            json.dump(document, tmp)
        os.replace(tmp.name, cached)
    except OSError as exc:  # a read-only home: parse each time
        log.info("spec cache not written (%s)", exc)
    return document
