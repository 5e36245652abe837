"""Backtest sweeps (`llmtrade backtest sweep`): many whole backtests on one executor interface (serial, local
processes, Ray). See driver.py for where results are written, executors.py for the backends."""
