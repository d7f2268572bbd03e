"""Synthetic data: populations, finger and iris captures, stations (deterministic per seed)."""
