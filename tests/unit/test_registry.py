"""Every registry entry has the folders the convention promises (adding a provider = folders + one line)."""

from __future__ import annotations

import importlib

import pytest

from pipelines.common.storage import REPO_ROOT
from pipelines.registry import PROVIDERS, extraction_providers, get_provider


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_provider_has_its_folders(provider) -> None:  # type: ignore[no-untyped-def]
    sandbox = importlib.import_module(f"sandbox.{provider.name}")
    assert callable(sandbox.create_app)
    if provider.extract:
        assert callable(importlib.import_module(f"pipelines.{provider.name}").source)
        settings = importlib.import_module(f"pipelines.{provider.name}.settings")
        for name in ("PRODUCTION_BASE_URL", "CREDENTIAL_ENV", "CONNECTION_ID", "RATE_LIMIT"):
            assert hasattr(settings, name), f"{provider.name}.settings lacks {name}"
        assert (REPO_ROOT / "dbt_project" / "models" / "staging" / provider.name).is_dir()


def test_names_are_unique_and_lookup_works() -> None:
    names = [p.name for p in PROVIDERS]
    assert len(names) == len(set(names))
    assert get_provider("shopify").dataset == "raw_shopify"
    assert "shopify" in [p.name for p in extraction_providers()]
    with pytest.raises(KeyError, match="registry has"):
        get_provider("myspace")
