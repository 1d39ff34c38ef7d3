"""Reusable fakes: real servers on loopback and in-memory doubles of real interfaces."""
