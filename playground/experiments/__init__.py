"""Experiments: small, self-contained studies a page runs through the scheduler (and a CLI)."""
