"""``herald init DIR``: a starter folder that runs as it is.

It writes a commented ``herald.toml`` (SQLite in ``DIR/var/``, the sample feeds, the
terminal and files as targets, Slack, Teams and X as comments), a copy of the bundled
``taxonomy.toml`` to edit, ``.env.example`` naming every environment variable Herald reads,
and the sample feeds under ``sample/``. ``cd DIR && herald run --once`` needs no network and
no secret. Existing files are left alone unless ``--force``.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from bot import bundled
from bot.cli._base import app, fail, out


def starter_files() -> dict[str, Path]:
    """What ``herald init`` writes (its path in the new folder → the bundled original)."""
    files = {
        "herald.toml": bundled.starter() / "herald.toml",
        "taxonomy.toml": bundled.taxonomy(),
        ".env.example": bundled.starter() / "env.example",
    }
    for sample in sorted(bundled.samples().iterdir()):
        if sample.is_file():
            files[f"sample/{sample.name}"] = sample
    return files


def write_starter(folder: Path, *, force: bool = False) -> list[Path]:
    """Write the starter files into ``folder`` (made if needed); returns what was written.

    Raises FileExistsError naming the files that exist already, before writing any, unless
    ``force``."""
    files = starter_files()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder.resolve()} is a file, not a folder")
    # A link is never followed, dangling or not: it could point anywhere on the machine.
    links = [folder / name for name in files if (folder / name).is_symlink()]
    if links:
        raise IsADirectoryError(", ".join(str(p) for p in links))
    if not force:
        present = [folder.resolve() / name for name in files if (folder / name).exists()]
        if present:
            raise FileExistsError(", ".join(str(p) for p in present))
    written = []
    for name, source in files.items():
        dest = folder / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(source.read_bytes())
        written.append(dest)
    return written


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="The folder to write (made if needed).",
                                        show_default=False, metavar="FOLDER")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")
                     ] = False,
) -> None:
    """Write a starter folder: herald.toml, taxonomy.toml, .env.example, sample feeds."""
    if not name.strip():
        raise fail("FOLDER: give the folder to write, e.g. `herald init site` (`.` for "
                   "this one)", 2)
    folder = Path(name).expanduser()
    try:
        written = write_starter(folder, force=force)
    except NotADirectoryError as exc:
        raise fail(f"{exc}; nothing was written", 2) from None
    except IsADirectoryError as exc:
        raise fail(f"not writing through a symbolic link: {exc}; nothing was written "
                   "(remove the link)", 2) from None
    except FileExistsError as exc:
        raise fail(f"not overwriting what is there: {exc}; nothing was written "
                   "(--force overwrites)", 2) from None
    except OSError as exc:
        raise fail(f"cannot write {exc.filename or folder}: {exc.strerror}") from None
    out.print(f"wrote {len(written)} files in {folder.resolve()}:", markup=False, soft_wrap=True)
    for path in written:
        out.print(f"  {path.relative_to(folder)}", markup=False)
    out.print("next:", markup=False)
    out.print(f"  cd {shlex.quote(str(folder))} && herald run --once     # the samples, "
              "no network, no secrets",
              markup=False, soft_wrap=True)
    out.print("  then edit herald.toml (sources, targets, routes), put secrets in the "
              "environment (.env.example names them) and run `herald config check`",
              markup=False, soft_wrap=True)
