"""Market data providers, the bar cache, the trading calendar, indicators, brokers."""
