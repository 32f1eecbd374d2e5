"""Persons: the one-person-one-file records and the helpers that feed them."""
