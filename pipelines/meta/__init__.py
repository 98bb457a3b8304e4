"""Meta: a Facebook Page, its Instagram business account and a Meta ad account, from the Graph API into `raw_meta`.

Importing this package is cheap (no dlt, no SDK): the registry entry is `provider.py`, the dlt source `source.py`.
"""
