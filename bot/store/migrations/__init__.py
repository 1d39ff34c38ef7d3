"""Alembic migrations for Herald's schema (run with ``herald db upgrade``)."""
