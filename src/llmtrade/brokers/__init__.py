"""Brokers: the Broker protocol (protocol.py), one module per broker (paper.py, alpaca.py with
alpaca_orders.py and alpaca_refusal_notes.py), the registry that builds them by name (registry.py), fill recording
for the audit log (fills.py) and order plans (order_plan.py)."""
