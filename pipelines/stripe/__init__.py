"""Stripe: the registry entry is `provider.py`, the dlt source `source.py` (importing this package stays cheap)."""
