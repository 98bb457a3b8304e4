"""dlt's configuration context is created without importing streamlit (its secrets provider's fallback), and still
reads the environment and a `.dlt/secrets.toml`; streamlit stays importable afterwards (the dashboard uses it).
dlt's rendering of a destination's location (its load info) does not import SQLAlchemy and renders as with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipelines.common.storage import REPO_ROOT

PROBE = """
import json, sys
from pipelines.run import init_dlt_context
init_dlt_context()
import dlt
seen = {"streamlit_imported": "streamlit" in sys.modules, "from_env": dlt.config.get("probe.from_env"),
        "from_toml": dlt.secrets.get("probe.from_toml")}
import streamlit
seen["streamlit_importable_after"] = streamlit.__name__ == "streamlit"
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
seen["location"] = str(DuckDbCredentials("/data/raw/stripe.duckdb"))
seen["sqlalchemy_imported"] = "sqlalchemy" in sys.modules
import sqlalchemy
seen["sqlalchemy_importable_after"] = sqlalchemy.__name__ == "sqlalchemy"
print(json.dumps(seen))
"""

# The same rendering with SQLAlchemy's own URL (dlt imports it when it is importable).
WITH_SQLALCHEMY = """
import sqlalchemy
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
print(str(DuckDbCredentials("/data/raw/stripe.duckdb")))
"""


def _probe(cwd: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PROBE__FROM_ENV": "env value"}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _location_with_sqlalchemy(cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", WITH_SQLALCHEMY], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_no_secrets_toml_no_streamlit_import(tmp_path: Path) -> None:
    seen = _probe(tmp_path)
    location = seen.pop("location")
    assert seen == {"streamlit_imported": False, "from_env": "env value", "from_toml": None,
                    "streamlit_importable_after": True, "sqlalchemy_imported": False,
                    "sqlalchemy_importable_after": True}
    assert location == _location_with_sqlalchemy(tmp_path) == "duckdb:////data/raw/stripe.duckdb"


def test_a_secrets_toml_is_still_read(tmp_path: Path) -> None:
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text('[probe]\nfrom_toml = "toml value"\n')
    seen = _probe(tmp_path)
    assert (seen["streamlit_imported"], seen["from_env"], seen["from_toml"]) == (False, "env value", "toml value")
