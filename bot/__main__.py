"""Entry point for ``python -m bot``: the same commands as ``herald``."""

from bot.cli import main

if __name__ == "__main__":
    main()
