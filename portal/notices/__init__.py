"""The monthly ranking notice (通报, 比学赶超) of each level's child regions."""
