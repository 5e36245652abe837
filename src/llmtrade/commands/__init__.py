"""The command groups of the `llmtrade` CLI, one module per family; cli.py only registers them.

Each module imports typer and the standard library at the top and the heavy parts (pydantic
models, psycopg, the embedded server) inside its commands, so `llmtrade --help` stays fast.
"""
