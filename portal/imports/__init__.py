"""Importing the lists offices exchange (Excel/CSV) into the person file."""
