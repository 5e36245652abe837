"""llmtrade: a committee of LLM portfolio managers trading paper accounts."""

__version__ = "0.1.0"
