"""Observability of the command line: where log lines go (logs.py), the Prometheus metrics read from the
event store (metrics.py), a run's timeline from the database (timeline.py), and the same runs as
OpenTelemetry traces when an OTLP endpoint is configured (otel.py).

At the application's rank (10): it reads storage and the domain's records, and commands/ and cli.py call it.
"""
