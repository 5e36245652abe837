"""The risk gate, the circuit breaker and the kill switch: pure code, no LLM."""
