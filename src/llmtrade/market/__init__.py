"""Market data: providers (validated before caching), the bar cache, the trading calendar, indicators."""
