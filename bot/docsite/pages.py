"""The generated blocks of the docs pages: where each lives, how it is made, and rewriting it.

A block sits between `<!-- generated: NAME -->` and `<!-- end generated: NAME -->` in its page; the
prose around it is written by hand. The pages are committed (so they also read on GitHub), and a
test compares every block with what its generator makes now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bot.config import REPO_ROOT, Settings
from bot.docsite.bench_tables import RENDERERS, bench_section, other_results
from bot.docsite.settings_tables import settings_tables

DOCS = REPO_ROOT / "docs"
RESULTS = REPO_ROOT / "bench-results"


class PageError(Exception):
    """A page lacks a block's markers (someone deleted or renamed them)."""


@dataclass(frozen=True)
class Block:
    name: str
    page: Path
    make: Callable[[], str]


def _schedule_tables() -> str:
    from bot.service.schedule import ScheduleFile  # noqa: PLC0415 - imports the service, only for its page

    return settings_tables(ScheduleFile)


def blocks(docs: Path = DOCS, results: Path = RESULTS) -> list[Block]:
    page = docs / "benchmarks.md"
    bench = [Block(f"bench {name}", page, partial(bench_section, results, name)) for name in RENDERERS]
    return [
        Block("settings", docs / "configuration.md", partial(settings_tables, Settings)),
        Block("schedule", docs / "scheduling.md", _schedule_tables),
        *bench,
        Block("bench other", page, partial(other_results, results)),
    ]


def markers(name: str) -> tuple[str, str]:
    return f"<!-- generated: {name} -->", f"<!-- end generated: {name} -->"


def splice(text: str, name: str, content: str) -> str:
    """`text` with block `name` replaced by `content` (one blank line either side)."""
    start, end = markers(name)
    before, found, rest = text.partition(start)
    _, found_end, after = rest.partition(end)
    if not found or not found_end:
        raise PageError(f"no '{start}' … '{end}' pair. Fix: put both markers back where the block belongs")
    return f"{before}{start}\n\n{content.strip()}\n\n{end}{after}"


def regenerate(chosen: list[Block], write: bool) -> list[Path]:
    """Bring the pages of `chosen` up to date (when `write`); the pages that were, or would be, changed."""
    changed: list[Path] = []
    for page in dict.fromkeys(block.page for block in chosen):
        old = page.read_text(encoding="utf-8")
        new = old
        for block in (b for b in chosen if b.page == page):
            try:
                new = splice(new, block.name, block.make())
            except PageError as exc:
                raise PageError(f"{page}: {exc}") from None
        if new != old:
            changed.append(page)
            if write:
                page.write_text(new, encoding="utf-8")
    return changed
