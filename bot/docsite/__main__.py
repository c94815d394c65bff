"""Regenerate the generated blocks of the docs pages from the code and bench-results/.

`python -m bot.docsite` does every page; `python -m bot.docsite benchmarks` only that one.
--check writes nothing and exits 1 when a page is out of date.
"""

from __future__ import annotations

import argparse
import sys

from bot.docsite.pages import PageError, blocks, regenerate


def main(argv: list[str] | None = None) -> int:
    every = blocks()
    pages = sorted({block.page.stem for block in every})
    parser = argparse.ArgumentParser(prog="python -m bot.docsite", description=__doc__)
    parser.add_argument("pages", nargs="*", metavar="PAGE", help=f"one of {', '.join(pages)} (default: all)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is out of date")
    args = parser.parse_args(argv)
    unknown = set(args.pages) - set(pages)
    if unknown:
        parser.error(f"unknown page(s) {', '.join(sorted(unknown))}; choose from {', '.join(pages)}")
    chosen = [block for block in every if not args.pages or block.page.stem in args.pages]
    try:
        changed = regenerate(chosen, write=not args.check)
    except PageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for page in changed:
        print(f"{'out of date' if args.check else 'updated'}: {page}")
    if args.check and changed:
        print("Fix: python -m bot.docsite", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
