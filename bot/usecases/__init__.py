"""Use cases: operations that the command line and the web app both offer, written once so
that both faces check the same things and say the same thing when they refuse."""
