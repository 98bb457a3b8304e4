"""Meta: a Facebook Page, its Instagram business account and a Meta ad account, from the Graph API into `raw_meta`.

Importing this package is cheap (no dlt, no SDK): the source lives in `source.py`, the contract in `provider.py`.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    # The runner reads `pipelines.meta.source(config)`: load the module on first use and expose its function under the
    # package name (importing the submodule would otherwise leave the module object there).
    if name in ("source", "SUPPORTS_INTERVAL_RELOAD"):
        module = importlib.import_module(f"{__name__}.source")
        globals()["source"] = module.source
        globals()["SUPPORTS_INTERVAL_RELOAD"] = module.SUPPORTS_INTERVAL_RELOAD
        return globals()[name]
    raise AttributeError(name)
