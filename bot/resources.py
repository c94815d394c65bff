"""Where the data the bot ships with lives, and where a clinician's own copies override it.

Announcements, note templates and risk lexicons are package data (`bot/data/<kind>`), found through
importlib.resources, so a wheel installed anywhere (a venv outside the checkout, the container image)
carries them. A clinician's overrides live in one directory laid out the same way
(`<overrides>/announcements/es.toml`, `<overrides>/templates/soap.en.toml`, `<overrides>/risk/en.toml`);
it is searched first, per file: a file there wins over the packaged one, every other file still comes
from the package. The directory is `paths.overrides_dir`, or SESSIONBOT_OVERRIDES_DIR, which wins.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

OVERRIDES_ENV = "SESSIONBOT_OVERRIDES_DIR"
KINDS = ("announcements", "templates", "risk")


class OverridesError(ValueError):
    """The configured overrides directory cannot be used (the message names the key and the fix)."""


def packaged(kind: str) -> Path:
    """The shipped folder `bot/data/<kind>` (announcements, templates, risk) as a filesystem path."""
    # setuptools installs package data as plain files, never zipped, so the traversable is a real path.
    return Path(str(files("bot") / "data" / kind))


ANNOUNCEMENTS_DIR = packaged("announcements")
TEMPLATES_DIR = packaged("templates")
RISK_DIR = packaged("risk")
_PACKAGED = {packaged(kind): kind for kind in KINDS}

_configured: Path | None = None


def check_overrides_dir(path: Path, key: str) -> Path:
    """`path` expanded, or an OverridesError naming `key` when it is not a directory."""
    path = path.expanduser()
    if not path.is_dir():
        raise OverridesError(
            f"{key}: {path} is not a directory. Fix: create it (with announcements/, templates/ or risk/ "
            f"inside, laid out like the packaged bot/data) or remove the setting."
        )
    return path


def use_overrides(path: Path | None) -> None:
    """Set the overrides directory from configuration (paths.overrides_dir); None turns it off."""
    global _configured  # noqa: PLW0603 - one process-wide setting, set once when settings load
    _configured = check_overrides_dir(path, "paths.overrides_dir") if path is not None else None


def overrides_dir() -> Path | None:
    """The active overrides directory: SESSIONBOT_OVERRIDES_DIR, else paths.overrides_dir, else none."""
    env = os.environ.get(OVERRIDES_ENV)
    if env:
        return check_overrides_dir(Path(env), OVERRIDES_ENV)
    return _configured


def lookup(directory: Path, name: str) -> Path:
    """The file `name` of `directory`: the clinician's override when `directory` is a packaged folder
    and the overrides directory has that file, else `directory / name` (which may not exist: the
    loader reports that with its own key and fix)."""
    kind = _PACKAGED.get(directory)
    overrides = overrides_dir() if kind is not None else None
    if overrides is not None:
        candidate = overrides / kind / name  # type: ignore[operator]
        if candidate.is_file():
            return candidate
    return directory / name


def listing(directory: Path, pattern: str) -> list[Path]:
    """Files matching `pattern` in `directory` and, for a packaged folder, in its overrides (an
    override hides the packaged file of the same name)."""
    found = {p.name: p for p in directory.glob(pattern)}
    kind = _PACKAGED.get(directory)
    overrides = overrides_dir() if kind is not None else None
    if overrides is not None:
        found.update({p.name: p for p in (overrides / kind).glob(pattern)})  # type: ignore[operator]
    return [found[name] for name in sorted(found)]


def where_to_copy(kind_file: str) -> str:
    """Hint text for an error: where the packaged reference file is, and where a clinician's copy goes."""
    kind, _, name = kind_file.partition("/")
    return (f"the packaged {kind_file} ({packaged(kind) / name}); put your own copy in "
            f"<paths.overrides_dir or ${OVERRIDES_ENV}>/{kind_file}")
