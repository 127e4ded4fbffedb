"""User-level differential privacy for the release (`train.dp`): the budget and its split
(budget.py), contribution bounding at ingest (bound.py) and the noisy aggregations over
Spark that the private profile and item pairs are released through (aggregate.py).

DP noise is never derived from the configured seed: a known seed would undo it. Every
other draw of a DP run is, so a run is deterministic given its private release.
"""
