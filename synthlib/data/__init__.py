"""The real log: read and checked (ingest), profiled, sampled; the demo log simulated."""
