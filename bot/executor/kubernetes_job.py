"""The Kubernetes Job (and its Secret) that runs one scheduled session: `sessionbot join` in the
sessionbot image, with the session's validated settings, sized from the benchmark figures.

The call link (it carries the room's join token) and the session's settings travel in a
per-session Secret, never in the Job's spec; the Job's labels carry a hash of the session
key, not the key (a key may name a client).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from kubernetes.client import (
    V1Capabilities,
    V1Container,
    V1EmptyDirVolumeSource,
    V1EnvVar,
    V1EnvVarSource,
    V1Job,
    V1JobSpec,
    V1ObjectMeta,
    V1PersistentVolumeClaimVolumeSource,
    V1PodSecurityContext,
    V1PodSpec,
    V1PodTemplateSpec,
    V1ResourceRequirements,
    V1SeccompProfile,
    V1Secret,
    V1SecretKeySelector,
    V1SecretVolumeSource,
    V1SecurityContext,
    V1Volume,
    V1VolumeMount,
)

from bot.config import Settings
from bot.executor.toml_writer import to_toml

SESSION_CONFIG_DIR = "/etc/sessionbot/session"
SESSION_SETTINGS_KEY = "settings.toml"
LINK_KEY = "link"
LINK_ENV = "SESSIONBOT_CALL_LINK"
DATA_DIR = "/var/lib/sessionbot"
USER_ID = 10001
# After the bot leaves: writing the note and the audit record, and SIGTERM's polite leave.
FINISH_ALLOWANCE_S = 300


@dataclass(frozen=True)
class JobResources:
    """Sized from docs/benchmarks.md: one session with Whisper base int8 peaked at 514 MB (bench asr;
    the demo's whole process 371-420 MB) and two sessions fit 2 cores in real time, so one core each."""

    cpu_request: str = "1"
    cpu_limit: str = "2"
    memory_request: str = "640Mi"
    memory_limit: str = "1Gi"


@dataclass(frozen=True)
class JobTemplate:
    """What is the same for every session Job of a deployment (deploy/k8s names these)."""

    namespace: str = "sessionbot"
    image: str = "sessionbot:0.1.0"
    keys_secret: str = "sessionbot-keys"
    notes_claim: str = "sessionbot-notes"
    service_account: str = "sessionbot-session"
    ttl_after_finished_s: int = 3600
    backoff_limit: int = 1
    resources: JobResources = field(default_factory=JobResources)


@dataclass(frozen=True)
class SessionJob:
    job: V1Job
    secret: V1Secret

    @property
    def name(self) -> str:
        return self.job.metadata.name


def job_name(session_key: str, start: datetime, attempt: int = 1) -> str:
    """A valid DNS label (≤ 63), the same for the same session and attempt, so a restarted scheduler
    finds the Job it created instead of starting the session twice."""
    digest = hashlib.sha256(f"{session_key}\x00{start.isoformat()}".encode()).hexdigest()[:10]
    return f"sessionbot-{digest}-{attempt}"


def _label_safe(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value)[:63].strip("_.-") or "none"


def session_deadline_s(settings: Settings, start: datetime, end: datetime, lead_s: float) -> int:
    """How long the bot may stay: the scheduled window, the lead before it and the grace after it,
    never more than leave.max_duration_s."""
    window = (end - start).total_seconds() + lead_s + settings.leave.scheduled_end_grace_s
    return int(min(window, settings.leave.max_duration_s))


def session_settings_toml(settings: Settings, stay_s: int) -> str:
    """The session's settings for the pod: secrets never (they come from the environment), logs to
    standard error (the cluster's log pipeline), and a length the bot enforces itself."""
    data = settings.model_dump(mode="json")
    data["journal"]["key_file"] = None
    data["logging"]["file"] = None
    data["leave"]["max_duration_s"] = float(stay_s)
    return to_toml(data)


def _secret_env(name: str, secret: str, key: str, optional: bool = False) -> V1EnvVar:
    return V1EnvVar(name=name, value_from=V1EnvVarSource(
        secret_key_ref=V1SecretKeySelector(name=secret, key=key, optional=optional or None)))


def build_session_job(
    session_key: str, link: str, start: datetime, end: datetime, clinician: str, settings: Settings,
    template: JobTemplate, lead_s: float = 60.0, attempt: int = 1,
) -> SessionJob:
    name = job_name(session_key, start, attempt)
    stay_s = session_deadline_s(settings, start, end, lead_s)
    labels = {
        "app.kubernetes.io/name": "sessionbot",
        "app.kubernetes.io/component": "session",
        "sessionbot/session-hash": name.split("-")[1],
        "sessionbot/clinician": _label_safe(clinician),
    }
    annotations = {"sessionbot/scheduled-start": start.isoformat(), "sessionbot/scheduled-end": end.isoformat(),
                   "sessionbot/attempt": str(attempt)}
    resources = template.resources
    container = V1Container(
        name="session",
        image=template.image,
        image_pull_policy="IfNotPresent",
        args=["join", f"$({LINK_ENV})", "--config", f"{SESSION_CONFIG_DIR}/{SESSION_SETTINGS_KEY}"],
        env=[
            _secret_env(LINK_ENV, name, LINK_KEY),
            _secret_env("SESSIONBOT_JOURNAL_KEY", template.keys_secret, "journal-key"),
            _secret_env("SESSIONBOT_JANUS_PIN", template.keys_secret, "janus-pin", optional=True),
            _secret_env("SESSIONBOT_JANUS_TOKEN", template.keys_secret, "janus-token", optional=True),
            _secret_env("SESSIONBOT_JANUS_SECRET", template.keys_secret, "janus-secret", optional=True),
        ],
        resources=V1ResourceRequirements(
            requests={"cpu": resources.cpu_request, "memory": resources.memory_request},
            limits={"cpu": resources.cpu_limit, "memory": resources.memory_limit},
        ),
        security_context=V1SecurityContext(
            allow_privilege_escalation=False, read_only_root_filesystem=True,
            capabilities=V1Capabilities(drop=["ALL"]),
        ),
        volume_mounts=[
            V1VolumeMount(name="session", mount_path=SESSION_CONFIG_DIR, read_only=True),
            V1VolumeMount(name="data", mount_path=DATA_DIR),
            V1VolumeMount(name="tmp", mount_path="/tmp"),
        ],
    )
    pod = V1PodSpec(
        restart_policy="Never",
        service_account_name=template.service_account,
        automount_service_account_token=False,
        termination_grace_period_seconds=60,
        security_context=V1PodSecurityContext(
            run_as_non_root=True, run_as_user=USER_ID, run_as_group=USER_ID, fs_group=USER_ID,
            seccomp_profile=V1SeccompProfile(type="RuntimeDefault"),
        ),
        containers=[container],
        volumes=[
            V1Volume(name="session", secret=V1SecretVolumeSource(secret_name=name, default_mode=0o440)),
            V1Volume(name="data", persistent_volume_claim=V1PersistentVolumeClaimVolumeSource(
                claim_name=template.notes_claim)),
            # In memory: nothing the bot handles may land on a node's disk.
            V1Volume(name="tmp", empty_dir=V1EmptyDirVolumeSource(medium="Memory", size_limit="64Mi")),
        ],
    )
    job = V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=V1ObjectMeta(name=name, namespace=template.namespace, labels=labels, annotations=annotations),
        spec=V1JobSpec(
            active_deadline_seconds=stay_s + FINISH_ALLOWANCE_S,
            backoff_limit=template.backoff_limit,
            ttl_seconds_after_finished=template.ttl_after_finished_s,
            template=V1PodTemplateSpec(metadata=V1ObjectMeta(labels=labels), spec=pod),
        ),
    )
    secret = V1Secret(
        api_version="v1",
        kind="Secret",
        type="Opaque",
        metadata=V1ObjectMeta(name=name, namespace=template.namespace, labels=labels),
        string_data={LINK_KEY: link, SESSION_SETTINGS_KEY: session_settings_toml(settings, stay_s)},
    )
    return SessionJob(job, secret)
