"""Helpers for tests/test_slurm.py: a throw-away Slurm cluster and a profile shrunk to it."""
