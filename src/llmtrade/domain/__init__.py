"""Domain records shared by every layer: frozen pydantic models, no I/O."""
