"""Readers of measurement sources and test lists (level 1): they yield good records and report bad ones."""
