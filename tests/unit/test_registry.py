"""The registry: every entry conforms to the contract, and a non-conforming one is refused with a clear message."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from pipelines.common.storage import REPO_ROOT
from pipelines.contract import ContractError, Credential, Destination, Provider, Queue, RateLimit, Registry
from pipelines.registry import REGISTRY, UnknownProviderError, extraction_providers, get_provider
from sandbox.common.simulator import Simulator, load_simulator


@pytest.mark.parametrize("entry", REGISTRY.entries, ids=lambda e: e.name)
def test_every_entry_conforms_and_has_its_simulator(entry) -> None:  # type: ignore[no-untyped-def]
    assert type(entry) in (Provider, Destination, Queue)
    entry.validate()
    simulator = load_simulator(entry.sandbox)
    assert isinstance(simulator, Simulator) and callable(simulator.create_app)
    declared = {c.field for c in entry.credentials}
    assert set(simulator.credentials) <= declared, "the simulator offers credentials the entry does not declare"
    assert set(entry.required_fields()) <= set(simulator.credentials), "the simulator lacks a required credential"


@pytest.mark.parametrize("provider", extraction_providers(), ids=lambda p: p.name)
def test_every_provider_has_its_folders_and_a_one_argument_source(provider: Provider) -> None:
    assert provider.source is not None
    assert len(inspect.signature(provider.source).parameters) == 1
    assert (REPO_ROOT / "pipelines" / provider.name / "provider.py").is_file()
    assert (REPO_ROOT / "sandbox" / provider.name).is_dir()
    assert (REPO_ROOT / "dbt_project" / "models" / "staging" / provider.name).is_dir()
    if provider.bench:
        assert (REPO_ROOT / (provider.bench.replace(".", "/") + ".py")).is_file()


def _provider(**changes: object) -> Provider:
    base = Provider(
        name="acme", description="Acme", credentials=(Credential("api_key", "ACME_API_KEY"),), sandbox="sandbox.acme",
        schedule="0 * * * *", production_base_url="https://api.acme.example", rate_limit=RateLimit(10, 10),
        source=lambda config: None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Acme Corp"}, "lower_snake_case"),
        ({"schedule": "every hour"}, "not a cron"),
        ({"production_base_url": "http://api.acme.example"}, "https URL"),
        ({"production_base_url": "https://{tenant}.acme.example"}, "not credential fields"),
        ({"rate_limit": None}, "rate_limit is required"),
        ({"source": None}, "source must be a callable"),
        ({"sandbox": "tests.fake"}, "sandbox must name a module"),
        ({"credentials": (Credential("api_key", "acme-key"),)}, "malformed environment variable"),
        ({"bench": "scripts.bench"}, "bench must name a module"),
    ],
)
def test_a_non_conforming_entry_is_refused_naming_the_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ContractError, match=message):
        Registry((_provider(**changes),))


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ContractError, match="duplicate names"):
        Registry((_provider(), _provider()))


def test_a_bad_rate_limit_is_refused_where_it_is_written() -> None:
    with pytest.raises(ContractError, match="per_second must be positive"):
        RateLimit(0)


def test_unknown_provider_names_what_the_registry_has() -> None:
    with pytest.raises(UnknownProviderError, match="the registry has: shopify, stripe") as caught:
        get_provider("myspace")
    assert str(caught.value).startswith("Unknown provider 'myspace'")  # not KeyError's quoted repr
    with pytest.raises(UnknownProviderError, match="is a destination, not an extraction provider"):
        get_provider("slack")
    assert get_provider("shopify").dataset == "raw_shopify"
