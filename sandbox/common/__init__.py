"""What every simulator shares: server state, latency and fault injection, rate limiting, auth helpers."""
