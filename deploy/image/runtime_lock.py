"""Print the runtime part of the hashed lock: the entries of requirements.lock.txt that the project's
own dependencies (plus any --extra) reach, copied verbatim with their hashes.

The lock is compiled over runtime, test and bench together (uv pip compile --universal
--generate-hashes), so an image installing it whole would carry pytest, mkdocs, hadolint and the
rest. Nothing is resolved here: the roots are the names in pyproject.toml's [project] dependencies,
and the closure follows the lock's own "# via" annotations (each entry names what pulls it in).
Following every edge can only keep too much, never too little, and pip's --require-hashes mode
refuses to install anything whose dependency is not pinned in the file, so a missing entry fails
the install instead of being fetched unpinned.

Usage: runtime_lock.py LOCK PYPROJECT [--extra NAME]... > runtime.txt
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """Entries (requirement line and its --hash lines, per name; a name may have one entry per
    marker) and, per name, the names its "# via" annotation lists."""
    entries: dict[str, list[str]] = {}
    parents: dict[str, set[str]] = {}
    current: str | None = None
    in_via_block = False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not line[0].isspace() and not stripped.startswith("#"):
            match = NAME.match(line)
            if match is None:
                raise SystemExit(f"runtime_lock.py: cannot read lock line {line!r}")
            current = normalize(match.group(1))
            entries.setdefault(current, []).append(line)
            parents.setdefault(current, set())
            in_via_block = False
        elif current is not None and stripped.startswith("--hash="):
            entries[current].append(line)
        elif current is not None and stripped.startswith("# via"):
            rest = stripped[len("# via"):].strip()
            in_via_block = not rest
            parents[current].update(_via_names(rest))
        elif current is not None and in_via_block and stripped.startswith("#"):
            parents[current].update(_via_names(stripped.lstrip("#").strip()))
    return entries, parents


def _via_names(text: str) -> set[str]:
    names = set()
    for item in text.split(","):
        item = item.strip()
        if item and not item.startswith(("-r ", "-c ")) and "(pyproject.toml)" not in item:
            names.add(normalize(NAME.match(item).group(1)) if NAME.match(item) else item)
    return names


def roots(pyproject: Path, extras: list[str]) -> set[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"runtime_lock.py: pyproject.toml has no extra {extra!r} (it has {sorted(optional)})")
        requirements += optional[extra]
    return {normalize(NAME.match(r).group(1)) for r in requirements}


def closure(start: set[str], parents: dict[str, set[str]]) -> set[str]:
    keep = set(start)
    changed = True
    while changed:
        changed = False
        for name, via in parents.items():
            if name not in keep and via & keep:
                keep.add(name)
                changed = True
    return keep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("--extra", action="append", default=[])
    args = parser.parse_args(argv)
    entries, parents = parse_lock(args.lock.read_text(encoding="utf-8"))
    wanted = roots(args.pyproject, args.extra)
    missing = sorted(wanted - entries.keys())
    if missing:
        raise SystemExit(f"runtime_lock.py: {args.lock} lacks {missing}, which pyproject.toml requires. Fix: "
                         "regenerate the lock (uv pip compile --universal --generate-hashes ...).")
    keep = closure(wanted, parents)
    print(f"# The runtime part of {args.lock.name} for sessionbot"
          f"{'[' + ','.join(args.extra) + ']' if args.extra else ''}, by deploy/image/runtime_lock.py.")
    for name in sorted(keep):
        print("\n".join(entries[name]))
    print(f"runtime_lock.py: {len(keep)} of {len(entries)} locked packages are runtime", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
