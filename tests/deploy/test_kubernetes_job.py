"""The Job the kubernetes executor builds for one session matches the session's settings, and
validates against the pinned Kubernetes version. Then the executor drives the official client
against FakeKubernetesApi: a fake, named so, because no Kubernetes API server can run here
(Debian bookworm ships none; etcd alone is not one)."""

from __future__ import annotations

import asyncio
import json
import threading
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from bot.config import settings_from_mapping
from bot.executor.kubernetes_job import (
    FINISH_ALLOWANCE_S,
    JobResources,
    JobTemplate,
    build_session_job,
    job_name,
)
from tests.deploy.test_manifests import KUBERNETES_VERSION

START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
END = datetime(2026, 11, 24, 15, 50, tzinfo=UTC)
LINK = "janus+wss://janus.clinic.example:8989/1234"


def _settings(tmp_path: Path):
    return settings_from_mapping({
        "session": {"language": "es", "note_template": "soap"},
        "consent": {"mode": "written", "written_consent_ref": "form-031", "purposes": ["notes", "risk_flags"]},
        "leave": {"scheduled_end_grace_s": 300},
        "journal": {"directory": str(tmp_path / "journal" / "rivera")},
        "paths": {"output_dir": str(tmp_path / "notes" / "rivera")},
    })


def _plain(obj: object) -> dict:
    return ApiClient().sanitize_for_serialization(obj)


def test_job_spec_matches_the_session_settings(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    template = JobTemplate(namespace="clinic", image="registry.example/sessionbot:0.1.0",
                           resources=JobResources(cpu_request="1", memory_request="640Mi"))
    planned = build_session_job("sam-2026-11-24", LINK, START, END, "rivera", settings, template, lead_s=60)
    job, secret = _plain(planned.job), _plain(planned.secret)
    stay = 50 * 60 + 60 + 300  # window + lead + scheduled_end_grace_s
    assert job["metadata"]["namespace"] == secret["metadata"]["namespace"] == "clinic"
    assert job["spec"]["activeDeadlineSeconds"] == stay + FINISH_ALLOWANCE_S
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.example/sessionbot:0.1.0"
    assert container["args"] == ["join", "$(SESSIONBOT_CALL_LINK)", "--config", "/etc/sessionbot/session/settings.toml"]
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "640Mi"}
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert env["SESSIONBOT_CALL_LINK"] == {"name": planned.name, "key": "link"}
    assert env["SESSIONBOT_JOURNAL_KEY"] == {"name": "sessionbot-keys", "key": "journal-key"}
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    # The link (it carries the room token) and the client's session key are only in the Secret.
    assert LINK not in json.dumps(job) and "sam-2026" not in json.dumps(job)
    assert secret["stringData"]["link"] == LINK
    # The settings the pod gets are the session's settings, secrets and log file left out.
    carried = settings_from_mapping(tomllib.loads(secret["stringData"]["settings.toml"]))
    assert carried.session == settings.session and carried.consent == settings.consent
    assert carried.transcription == settings.transcription and carried.vad == settings.vad
    assert carried.paths.output_dir == settings.paths.output_dir
    assert carried.journal.directory == settings.journal.directory and carried.journal.key_file is None
    assert carried.leave.max_duration_s == stay
    import kubernetes_validate

    for resource in (job, secret):
        assert kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True) == "1.33"


def test_job_names_are_stable_per_session_and_attempt_and_valid_dns_labels() -> None:
    name = job_name("a" * 200, START)
    assert name == job_name("a" * 200, START) and len(name) <= 63
    assert name != job_name("a" * 200, START, attempt=2) != job_name("b", START)
    assert name.replace("-", "").isalnum() and name == name.lower()


def test_the_stay_never_exceeds_max_duration(tmp_path: Path) -> None:
    settings = settings_from_mapping({"leave": {"max_duration_s": 1800}})
    planned = build_session_job("k", LINK, START, END, "rivera", settings, JobTemplate())
    assert planned.job.spec.active_deadline_seconds == 1800 + FINISH_ALLOWANCE_S


# -- the executor through the official client ------------------------------------------------


@dataclass
class FakeKubernetesApi:
    """FAKE Kubernetes API server (jobs and secrets only, in memory) on 127.0.0.1."""

    jobs: dict[str, dict]
    secrets: dict[str, dict]
    succeed_after_reads: int = 1

    def handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                store = api.jobs if self.path.endswith("/jobs") else api.secrets
                name = body["metadata"]["name"]
                if name in store:
                    return self._send(409, {"kind": "Status", "reason": "AlreadyExists", "code": 409})
                body["metadata"]["uid"] = str(uuid.uuid4())
                store[name] = body
                self._send(201, body)

            def do_GET(self) -> None:  # noqa: N802
                name = self.path.rstrip("/").split("/")[-2 if self.path.endswith("/status") else -1]
                job = api.jobs[name]
                job.setdefault("_reads", 0)
                job["_reads"] += 1
                job["status"] = {"succeeded": 1} if job["_reads"] > api.succeed_after_reads else {"active": 1}
                self._send(200, {k: v for k, v in job.items() if k != "_reads"})

            def log_message(self, *_: object) -> None:
                pass

        return Handler


@pytest.fixture
def fake_api() -> Iterator[tuple[FakeKubernetesApi, str]]:
    api = FakeKubernetesApi({}, {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), api.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_executor_creates_the_job_then_its_secret_owned_by_it_and_waits_for_success(
    fake_api: tuple[FakeKubernetesApi, str], tmp_path: Path
) -> None:
    from kubernetes import client

    from bot.executor.kubernetes import KubernetesExecutor
    from bot.service.schedule import ScheduledSession

    api, host = fake_api
    configuration = client.Configuration(host=host)
    api_client = client.ApiClient(configuration)
    executor = KubernetesExecutor(JobTemplate(namespace="clinic"), client.BatchV1Api(api_client),
                                  client.CoreV1Api(api_client), poll_s=0.05)
    session = ScheduledSession("sam-2026-11-24", LINK, START, END, "rivera", _settings(tmp_path))
    state, reason = await executor.run(session, lead_s=60, attempt=1, stop=asyncio.Event())
    name = job_name("sam-2026-11-24", START)
    assert (state, reason) == ("done", f"kubernetes job {name} succeeded")
    assert list(api.jobs) == [name] and list(api.secrets) == [name]
    owner = api.secrets[name]["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Job", name, api.jobs[name]["metadata"]["uid"])
    # A restarted scheduler adopts the Job instead of starting the session twice.
    state, _ = await executor.run(session, lead_s=60, attempt=1, stop=asyncio.Event())
    assert state == "done" and len(api.jobs) == 1


async def test_run_service_with_the_kubernetes_executor_starts_a_job_per_due_session_without_a_model(
    fake_api: tuple[FakeKubernetesApi, str], tmp_path: Path
) -> None:
    from datetime import timedelta

    from kubernetes import client

    from bot.executor.kubernetes import KubernetesExecutor
    from bot.service.runner import ScheduleService

    api, host = fake_api
    api_client = client.ApiClient(client.Configuration(host=host))
    executor = KubernetesExecutor(JobTemplate(namespace="clinic"), client.BatchV1Api(api_client),
                                  client.CoreV1Api(api_client), poll_s=0.05)
    now = datetime.now(UTC).replace(microsecond=0)
    schedule = tmp_path / "schedule.toml"
    schedule.write_text(f"""
[service]
tick_s = 0.1
notes_root = "{tmp_path / 'notes'}"
state_file = "{tmp_path / 'state' / 'service.json'}"

[[sessions]]
id = "due-now"
link = "{LINK}"
start = {(now - timedelta(minutes=1)).isoformat()}
end = {(now + timedelta(minutes=30)).isoformat()}
clinician = "rivera"

[[sessions]]
id = "tomorrow"
link = "{LINK}"
start = {(now + timedelta(days=1)).isoformat()}
end = {(now + timedelta(days=1, minutes=50)).isoformat()}
clinician = "rivera"
""")

    def no_model(_settings: object) -> object:
        raise AssertionError("the kubernetes executor must not load a speech model in the scheduler")

    base = settings_from_mapping({"journal": {"directory": str(tmp_path / "journal")}})
    service = ScheduleService(base, schedule, None, engine_factory=no_model, executor=executor)  # type: ignore[arg-type]
    running = asyncio.create_task(service.run())
    for _ in range(200):
        entry = service.status.sessions.get("due-now")
        if entry is not None and entry.state == "done":
            break
        await asyncio.sleep(0.05)
    service.request_stop()
    assert await asyncio.wait_for(running, 10) == 0
    name = job_name("due-now", now - timedelta(minutes=1))
    assert service.status.sessions["due-now"].state == "done"
    assert service.status.sessions["due-now"].outcome == f"kubernetes job {name} succeeded"
    assert list(api.jobs) == [name]  # tomorrow's session is not started
