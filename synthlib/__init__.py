"""synthlib: learn from a real click log, generate a synthetic one at data-lake scale."""

__version__ = "0.1.0"
