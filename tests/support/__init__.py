"""Helpers shared by the tests (imported as `tests.support...` or `support...`), instead of imports from conftest."""
