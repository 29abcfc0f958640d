"""Fixtures shared by the tests (configuration lives in the repository's conftest.py)."""
