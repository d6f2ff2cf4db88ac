"""Benchmarks: small importable measurements of pocketkube's parts, each printing a table."""
