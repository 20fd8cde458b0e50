"""Sim-to-real validation commands: replay logs in the twin, identify the twin, rank policies twin vs real."""
