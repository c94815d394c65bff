"""Optional note generator for sites that run their own model server (OpenAI-compatible chat completions).

Off by default (`notes.generator = "local"`); there is no default endpoint, so nothing is ever
sent to a cloud service unless a site configures one. The server gets the transcript (segment
ids, speakers, roles, text) and the template's sections, and must answer with JSON statements
that each cite segment ids. Every statement then passes the same evidence check as the local
generator's (bot/notes/evidence.py):

* a statement citing no existing segment is dropped;
* a statement whose own words are not supported by the segments it cites (less than
  `SUPPORT_THRESHOLD` of its content words found there), or that flips their polarity
  ("Client does not have trouble sleeping" citing "I have trouble sleeping"), is dropped, or
  kept marked "Unsupported — verify" when `notes.unsupported = "flag"`.

Risk flags and the client summary always come from the local generator (verbatim quotes, never a
model's wording). If the server cannot be reached, times out or answers something unusable, the
local generator drafts the note and its banner says so. Logs carry counts and error types only.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from bot.log import get_logger
from bot.notes.base import DRAFT_BANNER, Evidence, Note, NoteGenerator, Section, SessionFacts, Statement
from bot.notes.evidence import check, cited_segments
from bot.notes.phrases import phrases
from bot.notes.templates import TEMPLATES_DIR, Template, load_template
from bot.transcribe.segment import Segment

log = get_logger(__name__)

UNSUPPORTED_PREFIX = "Unsupported \u2014 verify: "

SYSTEM_PROMPT = (
    "You draft a clinician's session note from a therapy session transcript. Use only what the transcript "
    "says; never add findings, diagnoses or normal results that were not stated. Write short statements in "
    "the clinician's third person, in the language of the transcript. Every statement must cite the ids of "
    "the transcript segments it rests on. Leave a section empty if the session did not touch it. Answer "
    'with JSON only: {"sections": [{"title": "<section title>", "statements": [{"text": "...", '
    '"segment_ids": ["S1"]}]}]}'
)


class ModelServerError(Exception):
    """The server's answer could not be used (the message names the reason, never content)."""


@dataclass(frozen=True)
class ModelServerSettings:
    endpoint: str  # base URL, e.g. http://127.0.0.1:8000/v1
    model: str
    api_key_env: str | None = None
    timeout_s: float = 120.0
    connect_timeout_s: float = 5.0
    unsupported: str = "drop"  # or "flag"


@dataclass(frozen=True)
class CheckCounts:
    kept: int = 0
    no_evidence: int = 0  # cited nothing that exists: dropped
    unsupported: int = 0  # dropped or flagged, per settings
    contradicted: int = 0  # of those, the ones that flip the polarity of what they cite


def request_body(segments: list[Segment], spec: Template, model: str) -> dict[str, Any]:
    transcript = [{"id": s.id, "speaker": s.display_name, "role": s.role or "participant", "text": s.text}
                  for s in segments]
    sections = [{"title": section.title, "examples": list(section.examples[:3])} for section in spec.sections]
    user = json.dumps({"language": spec.language, "sections": sections, "transcript": transcript}, ensure_ascii=False)
    return {
        "model": model,
        "temperature": 0,
        "response_format": {"type": "json_object"},
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
    }


def parse_completion(payload: Any) -> list[dict[str, Any]]:
    """The `sections` list of the model's JSON answer, or ModelServerError saying what was wrong."""
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ModelServerError("the response is not a chat completion") from None
    if not isinstance(content, str):
        raise ModelServerError("the completion has no text content")
    content = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", content)  # some servers wrap JSON in a code fence
    try:
        answer = json.loads(content)
    except json.JSONDecodeError:
        raise ModelServerError("the completion is not JSON") from None
    sections = answer.get("sections") if isinstance(answer, dict) else None
    if not isinstance(sections, list):
        raise ModelServerError("the completion's JSON has no `sections` list")
    return [s for s in sections if isinstance(s, dict)]


def checked_sections(
    answer: list[dict[str, Any]], segments: list[Segment], spec: Template, unsupported: str,
) -> tuple[list[Section], CheckCounts]:
    """The template's sections filled with the model's statements that pass the evidence check."""
    by_id = {s.id: s for s in segments}
    p = phrases(spec.language)
    wanted: dict[str, list[Statement]] = {section.title: [] for section in spec.sections}
    kept = no_evidence = not_supported = contradicted = 0
    for item in answer:
        title = item.get("title")
        statements = item.get("statements")
        if title not in wanted or not isinstance(statements, list):
            continue  # a section the template does not have: nothing from it is shown
        for statement in statements:
            if not isinstance(statement, dict) or not isinstance(statement.get("text"), str):
                continue
            text = " ".join(statement["text"].split())
            ids = statement.get("segment_ids")
            cited = cited_segments([str(i) for i in ids], by_id) if isinstance(ids, list) else []
            if not text or not cited:
                no_evidence += 1
                continue
            support = check(text, cited, spec.language)  # the same check as `sessionbot bench notes`
            if not support.supported:
                not_supported += 1
                contradicted += bool(support.contradicted)
                if unsupported != "flag":
                    continue
                text = UNSUPPORTED_PREFIX + text
            kept += 1
            wanted[str(title)].append(Statement(text, tuple(Evidence.of(s) for s in cited)))
    sections = [Section(title, tuple(statements), empty_text=p["not_discussed"]) for title, statements in wanted.items()]
    return sections, CheckCounts(kept, no_evidence, not_supported, contradicted)


class ModelServerNoteGenerator:
    """Implements `NoteGenerator` through a site's OpenAI-compatible server; `local` is the fallback."""

    def __init__(self, settings: ModelServerSettings, local: NoteGenerator, templates_dir: Path = TEMPLATES_DIR) -> None:
        self.settings = settings
        self.local = local
        self._templates_dir = templates_dir

    def prefetch(self, segments: Sequence[Segment], language: str) -> int:
        """The local generator's embeddings, while the session runs: its risk flags, client summary and
        fallback then take no longer at the end than without a server (the server gets nothing early)."""
        prefetch = getattr(self.local, "prefetch", None)
        return int(prefetch(segments, language)) if callable(prefetch) else 0

    def forget(self) -> None:
        forget = getattr(self.local, "forget", None)
        if callable(forget):
            forget()

    def _complete(self, body: dict[str, Any]) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key_env:
            key = os.environ.get(self.settings.api_key_env)
            if not key:
                raise ModelServerError(f"the environment variable {self.settings.api_key_env} (the API key) is not set")
            headers["Authorization"] = f"Bearer {key}"
        timeout = httpx.Timeout(self.settings.timeout_s, connect=self.settings.connect_timeout_s)
        try:
            with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
                response = client.post(f"{self.settings.endpoint}/chat/completions", json=body, headers=headers)
        except httpx.TimeoutException:
            raise ModelServerError("the model server did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ModelServerError(f"the model server could not be reached ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise ModelServerError(f"the model server answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise ModelServerError("the model server's answer is not JSON") from None

    def generate(
        self, segments: list[Segment], facts: SessionFacts, template: str = "soap",
        purposes: frozenset[str] = frozenset({"notes"}),
    ) -> Note:
        started = time.perf_counter()
        ordered = sorted(segments, key=lambda s: (s.start, s.id))
        spec = load_template(template, facts.language, self._templates_dir)
        try:
            if not ordered:
                raise ModelServerError("the transcript is empty")
            answer = parse_completion(self._complete(request_body(ordered, spec, self.settings.model)))
        except ModelServerError as exc:
            log.warning("note_model_server_failed", reason=str(exc), seconds=round(time.perf_counter() - started, 3))
            local_note = self.local.generate(ordered, facts, template, purposes)
            return replace(local_note, banner=f"{local_note.banner} The configured model server was not used "
                           f"({exc}); this draft was made by the local generator.")
        sections, counts = checked_sections(answer, ordered, spec, self.settings.unsupported)
        risk: list[Section] = []
        summary: list[Section] = []
        flags = None
        if purposes & {"risk_flags", "client_summary"}:  # verbatim quotes from the local generator, never the model's
            local_note = self.local.generate(ordered, facts, template, purposes)
            extra = [s for s in local_note.sections if s.title not in {t.title for t in spec.sections}]
            risk = [s for s in extra if not s.requires_approval]
            summary = [s for s in extra if s.requires_approval]
            flags = local_note.risk_flags
        else:
            self.forget()  # the local generator drafted nothing: what it prefetched goes now
        log.info("note_model_server", statements=counts.kept, dropped_no_evidence=counts.no_evidence,
                 unsupported=counts.unsupported, contradicted=counts.contradicted,
                 unsupported_policy=self.settings.unsupported, seconds=round(time.perf_counter() - started, 3))
        checked = (f"Drafted by the site's model server ({self.settings.model}) and checked against the transcript: "
                   f"{counts.no_evidence} statement(s) citing no existing segment were dropped; {counts.unsupported} "
                   "not supported by the segments they cite were "
                   + ("kept, marked \u201cUnsupported \u2014 verify\u201d." if self.settings.unsupported == "flag"
                      else "dropped."))
        return Note(template=spec.name, facts=facts, sections=tuple(risk + sections + summary),
                    banner=f"{DRAFT_BANNER} {checked}", transcript=tuple(ordered), risk_flags=flags,
                    purposes=tuple(sorted(purposes)))
