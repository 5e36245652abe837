"""The LLM layer: an OpenAI-compatible client, structured answers, recording, cache, offline rules."""
