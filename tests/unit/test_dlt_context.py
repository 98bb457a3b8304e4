"""dlt's configuration context is created without importing streamlit (its secrets provider's fallback), and still
reads the environment and a `.dlt/secrets.toml`; streamlit stays importable afterwards (the dashboard uses it)."""

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
print(json.dumps(seen))
"""


def _probe(cwd: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PROBE__FROM_ENV": "env value"}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_no_secrets_toml_no_streamlit_import(tmp_path: Path) -> None:
    assert _probe(tmp_path) == {"streamlit_imported": False, "from_env": "env value", "from_toml": None,
                                "streamlit_importable_after": True}


def test_a_secrets_toml_is_still_read(tmp_path: Path) -> None:
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text('[probe]\nfrom_toml = "toml value"\n')
    assert _probe(tmp_path) == {"streamlit_imported": False, "from_env": "env value", "from_toml": "toml value",
                                "streamlit_importable_after": True}
