"""Targets: what a level expects of each of its child regions in an insurance year."""
