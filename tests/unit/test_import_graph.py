"""Production code never imports the sandbox (statically, at module level or inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

from pipelines.common.storage import REPO_ROOT

PRODUCTION = ("pipelines", "notifications", "webhooks", "dags", "plugins", "airflow_settings")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
            elif node.args and isinstance(node.args[0], ast.JoinedStr):
                found.add("".join(v.value for v in node.args[0].values if isinstance(v, ast.Constant)) + "*")
    return found


def test_production_code_never_imports_the_sandbox() -> None:
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(m for m in _imports(path) if m == "sandbox" or m.startswith("sandbox."))
        for folder in PRODUCTION
        for path in (REPO_ROOT / folder).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) > 40  # the walk really saw the production tree


def test_the_checker_sees_function_level_and_dynamic_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from sandbox.stripe import X\n    import importlib\n    importlib.import_module(f'sandbox.{n}')\n")
    assert {"sandbox.stripe", "sandbox.*"} <= _imports(sample)
