"""Jinja2 prompt templates (`<role>.system.j2`, `<role>.user.j2`) and their renderer."""
