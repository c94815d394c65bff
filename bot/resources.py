"""Where the data the bot ships with lives: inside the installed package, found through importlib.resources.

Announcements, note templates and risk lexicons are package data, so a wheel installed anywhere
(a venv outside the checkout, the container image) carries them.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def packaged(kind: str) -> Path:
    """The shipped folder `bot/data/<kind>` (announcements, templates, risk) as a filesystem path."""
    # setuptools installs package data as plain files, never zipped, so the traversable is a real path.
    return Path(str(files("bot") / "data" / kind))


ANNOUNCEMENTS_DIR = packaged("announcements")
TEMPLATES_DIR = packaged("templates")
RISK_DIR = packaged("risk")
