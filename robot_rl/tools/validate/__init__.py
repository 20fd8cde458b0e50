"""Sim-to-real validation commands: replay logs in the twin, identify the twin (ranking policies twin vs real: not
built yet)."""
