"""Cross-provider pieces: configuration, storage layout, HTTP client (rate limits, retries), secret hygiene."""
