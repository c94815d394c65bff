"""`sessionbot run --executor kubernetes`: each scheduled session runs as its own Kubernetes Job,
created through the official client, and the scheduler waits for the Job's outcome.

The Job is created first and its Secret (call link, settings) second, owned by the Job, so
Kubernetes deletes the Secret with the Job (ttlSecondsAfterFinished); the pod waits for the Secret
to appear. A Job that already exists (the scheduler restarted) is adopted, not started twice.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from bot.executor.kubernetes_job import JobTemplate, SessionJob, build_session_job
from bot.log import get_logger

log = get_logger(__name__)

NAMESPACE_ENV = "SESSIONBOT_K8S_NAMESPACE"
IMAGE_ENV = "SESSIONBOT_K8S_IMAGE"
CONFLICT = 409


class KubernetesExecutor:
    def __init__(self, template: JobTemplate, batch_api: Any, core_api: Any, poll_s: float = 10.0) -> None:
        self.template = template
        self._batch = batch_api
        self._core = core_api
        self.poll_s = poll_s

    @classmethod
    def from_cluster(cls) -> KubernetesExecutor:
        """In a pod: the service account's credentials; elsewhere: the kubeconfig."""
        from kubernetes import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        defaults = JobTemplate()
        template = JobTemplate(namespace=os.environ.get(NAMESPACE_ENV, defaults.namespace),
                               image=os.environ.get(IMAGE_ENV, defaults.image))
        return cls(template, client.BatchV1Api(), client.CoreV1Api())

    async def launch(self, planned: SessionJob) -> str:
        from kubernetes.client import V1OwnerReference
        from kubernetes.client.exceptions import ApiException

        namespace = self.template.namespace
        try:
            created = await asyncio.to_thread(self._batch.create_namespaced_job, namespace, planned.job)
            log.info("k8s_job_created", job=planned.name)
        except ApiException as exc:
            if exc.status != CONFLICT:
                raise
            created = await asyncio.to_thread(self._batch.read_namespaced_job, planned.name, namespace)
            log.info("k8s_job_adopted", job=planned.name)
        planned.secret.metadata.owner_references = [V1OwnerReference(
            api_version="batch/v1", kind="Job", name=planned.name, uid=created.metadata.uid,
            block_owner_deletion=True)]
        try:
            await asyncio.to_thread(self._core.create_namespaced_secret, namespace, planned.secret)
        except ApiException as exc:
            if exc.status != CONFLICT:
                raise
        return planned.name

    async def wait(self, name: str, stop: asyncio.Event) -> tuple[str, str]:
        """("done" | "failed" | "running", reason) once the Job finishes, or "running" when `stop` is set
        (the Job goes on without the scheduler)."""
        while True:
            job = await asyncio.to_thread(self._batch.read_namespaced_job_status, name, self.template.namespace)
            status = job.status
            if status is not None and (status.succeeded or 0) >= 1:
                return "done", f"kubernetes job {name} succeeded"
            for condition in (status.conditions or []) if status is not None else []:
                if condition.type == "Failed" and condition.status == "True":
                    return "failed", f"kubernetes job {name} failed: {condition.reason or 'unknown'}"
            try:
                await asyncio.wait_for(stop.wait(), self.poll_s)
                return "running", f"kubernetes job {name} left running (scheduler stopping)"
            except TimeoutError:
                pass

    async def run(self, session: Any, lead_s: float, attempt: int, stop: asyncio.Event) -> tuple[str, str]:
        planned = build_session_job(session.key, session.link, session.start, session.end, session.clinician,
                                    session.settings, self.template, lead_s=lead_s, attempt=attempt)
        name = await self.launch(planned)
        return await self.wait(name, stop)
