"""The files Herald ships inside its package, found through ``importlib.resources``.

``bot/data/`` holds everything a run needs besides the code: the embedded default config
(``default.toml``), the tag rules (``taxonomy.toml``), the sample feeds the default reads
(``sample/``) and what ``herald init`` writes into a starter folder (``starter/``). They
are package data, so a plain ``pip install`` carries them; nothing is looked up relative
to a clone's source tree.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_dir() -> Path:
    """The folder of Herald's bundled files.

    A real folder: Herald is installed as files (pip unpacks wheels), and the config and
    sample feeds are read through ordinary paths, relative to the config's own folder.
    """
    root = resources.files("bot").joinpath("data")
    path = Path(str(root))
    if not path.is_dir():  # a zipped install; not supported
        raise RuntimeError(f"Herald's bundled files are not a folder on disk: {root}")
    return path


def default_config() -> Path:
    """The embedded default config: SQLite under ./var, the samples, no secrets."""
    return data_dir() / "default.toml"


def taxonomy() -> Path:
    """The bundled tag rules (what a config without ``[paths] taxonomy`` uses)."""
    return data_dir() / "taxonomy.toml"


def samples() -> Path:
    """The bundled sample feeds (the academy's news as RSS, its X posts as a JSON Feed)."""
    return data_dir() / "sample"


def starter() -> Path:
    """What ``herald init`` writes besides the taxonomy and the samples."""
    return data_dir() / "starter"
