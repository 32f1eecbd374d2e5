"""Visits (走访): what a grid worker records after visiting or calling a person."""
