"""YAML configuration: pydantic models, the loader, and the defaults shipped in the package."""
