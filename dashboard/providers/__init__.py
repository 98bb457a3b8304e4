"""One page per provider: `PAGE = ProviderPage(...)`, named by the provider's registry entry (`dashboard_page`)."""
