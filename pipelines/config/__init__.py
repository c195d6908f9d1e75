"""The typed experiment config: one module per section, files and overrides, limits."""
