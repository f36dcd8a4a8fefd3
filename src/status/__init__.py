"""`mmp status`: scrape model servers' /metrics, keep per-model latency history, show it, alert on it."""
