"""A small shop backend: the application code whose bugs the grouping fixtures capture."""
