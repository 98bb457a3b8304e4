"""How long the dag-processor takes to parse each DAG file, first parse in a fresh process (as it does).

    python -m bench.bench_dag_parse [--rounds 5]

Builds the dbt manifest the transform DAG renders from, then parses each file of `dags/` `--rounds` times, each time
in a new Python process that has Airflow loaded (as a dag-processor has), and prints DagBag's own duration per file:
min, median and max in milliseconds, and the DAG count. Airflow's limits are `dagbag_import_timeout` (30 s) and
`dag_file_processor_timeout` (50 s); this project aims well under a second per file on a quiet machine. This is a
figure to watch, not a test: parse time on a shared, busy machine says more about the machine than about the code.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGS_DIR = REPO_ROOT / "dags"
sys.path[:0] = [str(REPO_ROOT), str(DAGS_DIR)]

PARSE = r"""
import json, sys
import airflow.sdk  # the dag-processor has Airflow loaded before it parses a file
from airflow.dag_processing.dagbag import BundleDagBag
from pathlib import Path
dags, name = Path(sys.argv[1]), sys.argv[2]
bag = BundleDagBag(dag_folder=str(dags / name), bundle_path=dags, bundle_name="dags-folder")
(stat,) = bag.dagbag_stats
print(json.dumps({"errors": len(bag.import_errors), "seconds": stat.duration.total_seconds(), "dags": len(bag.dags)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-dag-parse-"))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "OPSDATA_REPO_ROOT": str(REPO_ROOT),
        "OPSDATA_DATA_DIR": str(home / "data"),
        "OPSDATA_DBT_MANIFEST": str(home / "dbt_manifest" / "manifest.json"),
        "OPSDATA_DEADLINE_ALERTS": "true",  # as in production
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(DAGS_DIR)]),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    os.environ.update({k: env[k] for k in ("OPSDATA_DBT_MANIFEST", "OPSDATA_DATA_DIR", "OPSDATA_REPO_ROOT")})
    from dagkit.manifest import build_manifest

    build_manifest()
    print(f"DAG parse bench: {args.rounds} fresh-process parses per file; {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"  {'file':<14} {'min ms':>8} {'median':>8} {'max':>8}  DAGs")
    for path in sorted(DAGS_DIR.glob("*.py")):
        runs = []
        for _ in range(args.rounds):
            out = subprocess.run([sys.executable, "-c", PARSE, str(DAGS_DIR), path.name], env=env, capture_output=True,
                                 text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        if any(r["errors"] for r in runs):
            raise SystemExit(f"{path.name} has import errors")
        ms = [r["seconds"] * 1000 for r in runs]
        print(f"  {path.name:<14} {min(ms):8.0f} {statistics.median(ms):8.0f} {max(ms):8.0f}  {runs[0]['dags']}")


if __name__ == "__main__":
    main()
