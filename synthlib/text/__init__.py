"""Text: the model that writes search queries and item titles, its n-gram baseline, and
the metrics that measure generated text."""
