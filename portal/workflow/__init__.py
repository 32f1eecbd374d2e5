"""The workflow of an uninsured file: the one table of allowed transitions (transitions.py)."""
