"""Helpers shared by the test modules, by domain: import them from here, never from a test module or a
conftest other than the root one (tests/test_test_helpers.py checks)."""
