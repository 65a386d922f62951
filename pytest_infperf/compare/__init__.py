"""Comparing against baselines: the gate's decisions, reading and saving baseline files, the machine fingerprint."""
