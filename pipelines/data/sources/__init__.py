"""The data sources, one module per kind; each registers its sources by name."""
