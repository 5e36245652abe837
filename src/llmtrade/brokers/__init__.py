"""Brokers: the Broker protocol, its implementations (paper, Alpaca), order plans."""
