"""Reproducible measurements of Herald (run by hand; not part of the test suite)."""
