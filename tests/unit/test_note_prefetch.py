"""Background prefetching of note embeddings while a session runs, and forgetting them on objection."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from bot.config import settings_from_mapping
from bot.notes.base import SessionFacts
from bot.notes.embedding import TfidfEmbedder
from bot.notes.model_server import ModelServerNoteGenerator, ModelServerSettings
from bot.notes.prefetch import BackgroundPrefetch
from bot.notes.simple import SimpleNoteGenerator
from bot.notes.structured import StructuredNoteGenerator, make_generator
from bot.notes.templates import available_templates
from bot.transcribe.segment import Segment


def seg(i: int, role: str, text: str) -> Segment:
    return Segment(f"S{i}", "s", "p1" if role == "clinician" else "p2", "Dr. Lee" if role == "clinician" else "Sam",
                   role, i * 5.0, i * 5.0 + 4, text, "en", 0.9)


class RecordingGenerator:
    """Fake generator: records what it is asked to prefetch; `gate` holds a batch until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.forgotten = 0
        self.gate = threading.Event()
        self.gate.set()

    def prefetch(self, segments: Sequence[Segment], language: str) -> int:
        self.gate.wait(5)
        self.batches.append([s.id for s in segments])
        return len(segments)

    def forget(self) -> None:
        self.forgotten += 1


async def test_segments_are_prefetched_in_batches_with_the_one_before() -> None:
    fake = RecordingGenerator()
    fake.gate.clear()
    prefetch = BackgroundPrefetch(fake, "en")
    worker = prefetch.add(seg(1, "clinician", "How did the week go?"))
    assert worker is not None
    await asyncio.sleep(0.05)  # the worker has taken S1 and is embedding it
    assert prefetch.add(seg(2, "client", "Better, I slept more.")) is None  # joins the running worker's next round
    prefetch.add(seg(3, "client", "Work was hard."))
    fake.gate.set()
    await worker
    assert fake.batches == [["S1"], ["S1", "S2", "S3"]]  # the previous segment comes along as context


async def test_an_objection_forgets_everything_and_stops_prefetching() -> None:
    fake = RecordingGenerator()
    fake.gate.clear()
    prefetch = BackgroundPrefetch(fake, "en")
    worker = prefetch.add(seg(1, "client", "I slept badly."))
    assert worker is not None
    await asyncio.sleep(0.05)
    prefetch.add(seg(2, "client", "Work was hard."))
    prefetch.forget()  # while the first batch is still being embedded
    fake.gate.set()
    await worker
    assert fake.batches == [["S1"]] and fake.forgotten == 2  # at once, and again after the batch in flight
    assert prefetch.add(seg(3, "client", "Anything.")) is None and fake.batches == [["S1"]]


async def test_prefetched_vectors_are_used_and_then_dropped() -> None:
    embedded: list[str] = []

    class CountingEmbedder(TfidfEmbedder):
        def cost(self, texts):  # type: ignore[no-untyped-def]
            return [1] * len(texts)  # pretend it costs something, so prefetching is worth it

        def embed(self, texts):  # type: ignore[no-untyped-def]
            embedded.extend(texts)
            return super().embed(texts)

    generator = StructuredNoteGenerator(embedder=CountingEmbedder())
    segments = [seg(1, "clinician", "How has your sleep been this week?"),
                seg(2, "client", "I have been sleeping about six hours a night, better than before."),
                seg(3, "clinician", "Let's keep the sleep diary and practise the breathing exercise.")]
    generator.generate(segments[:1], SessionFacts("s", "2026-01-01T00:00:00+00:00", 10, "en", ()), "soap")
    prefetch = BackgroundPrefetch(generator, "en")
    worker = None
    for segment in segments:
        worker = prefetch.add(segment) or worker
    assert worker is not None
    await worker
    while prefetch._worker is not None and not prefetch._worker.done():  # noqa: SLF001 - wait for the last round
        await asyncio.sleep(0.01)
    assert prefetch.embedded >= 2
    before = len(embedded)
    note = generator.generate(segments, SessionFacts("s", "2026-01-01T00:00:00+00:00", 15, "en", ()), "soap")
    at_the_end = embedded[before:]  # the template's anchors, but no transcript sentence: those were prefetched
    assert not [t for t in at_the_end if "six hours" in t or "sleep diary" in t]
    assert any("six hours" in t for t in embedded[:before])
    assert note.cited_segment_ids() <= {"S1", "S2", "S3"}
    assert generator._vectors == {}  # noqa: SLF001 - the note drops every vector


def test_only_generators_that_can_prefetch_are_used() -> None:
    assert BackgroundPrefetch.supported(StructuredNoteGenerator(embedder=TfidfEmbedder()))
    assert not BackgroundPrefetch.supported(SimpleNoteGenerator())


class CostlyTfidf(TfidfEmbedder):
    """A lexical embedder that reports a cost (as e5 does) and records what it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    def cost(self, texts):  # type: ignore[no-untyped-def]
        return [1] * len(texts)

    def embed(self, texts):  # type: ignore[no-untyped-def]
        self.embedded.extend(texts)
        return super().embed(texts)


SESSION = [seg(1, "clinician", "How has your sleep been this week?"),
           seg(2, "client", "I have been sleeping about six hours a night, better than before."),
           seg(3, "clinician", "Let's keep the sleep diary and practise the breathing exercise.")]


@pytest.mark.parametrize("template", available_templates())
def test_every_template_is_prefetched_so_the_note_embeds_nothing_at_the_end(template: str) -> None:
    embedder = CostlyTfidf()
    generator = StructuredNoteGenerator(embedder=embedder, template=template)
    assert BackgroundPrefetch.supported(generator)
    assert generator.prefetch(SESSION, "en") > 0
    assert any("six hours" in t for t in embedder.embedded)  # what was said, during the session
    before = len(embedder.embedded)
    note = generator.generate(SESSION, SessionFacts("s", "2026-01-01T00:00:00+00:00", 15, "en", ()), template)
    assert embedder.embedded[before:] == []  # neither the template's examples nor the transcript are left
    assert note.template == template and note.cited_segment_ids() <= {"S1", "S2", "S3"}


def test_the_default_template_is_structured_and_its_generator_prefetches() -> None:
    settings = settings_from_mapping({}, "defaults")
    assert settings.session.note_template != "simple"
    assert settings.session.note_template in available_templates()
    assert BackgroundPrefetch.supported(make_generator(settings.session.note_template, notes=settings.notes))


def test_the_model_server_generator_prefetches_through_its_local_one_and_forgets_after_the_note() -> None:
    local = StructuredNoteGenerator(embedder=CostlyTfidf(), template="progress")
    server = ModelServerNoteGenerator(ModelServerSettings("http://127.0.0.1:9", "m", connect_timeout_s=0.2), local)
    assert BackgroundPrefetch.supported(server)
    assert server.prefetch(SESSION, "en") > 0 and local._vectors  # noqa: SLF001 - the local generator's cache
    note = server.generate(SESSION, SessionFacts("s", "2026-01-01T00:00:00+00:00", 15, "en", ()), "progress")
    assert "local generator" in note.banner  # nothing listens on port 9: the local generator drafted it
    assert local._vectors == {}  # noqa: SLF001 - nothing derived from the transcript outlives the note
    server.prefetch(SESSION, "en")
    server.forget()
    assert local._vectors == {}  # noqa: SLF001
