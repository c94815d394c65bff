"""A real session with a structured template: what was said is embedded while the call runs, the note at
the end needs no embedding of the transcript, and no vector outlives the note (embedded room, WebRTC,
tiny.en, espeak-ng speech, multilingual-e5 when installed)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.integration.conftest import wait_for
from tests.integration.test_consent_session import say, start

pytestmark = pytest.mark.slow


async def test_a_soap_session_prefetches_while_it_runs_and_forgets_after_the_note(room, engine, make_settings) -> None:
    settings = make_settings(transcription={"model": "tiny.en"}, session={"note_template": "soap"},
                             consent={"purposes": ["notes", "risk_flags"]})
    runner, session, joined = await start(room, engine, settings, ("Sam", "client"))
    client = joined[0][0]
    # Benign, and so are the ways tiny.en mishears it. "… about six hours a night" came back (at beam 1
    # and 5, through Opus) as "… this week. I'm out six hours at night.", and that fragment alone sits
    # inside the semantic risk signal's contrast margin (suicidal ideation 0.886, its closest contrast
    # 0.902): a false flag by the signal's design (docs/notes.md), which this test is not about.
    await say(client, "I have been sleeping better this week, and I feel calmer.")
    await wait_for(lambda: len(runner.buffer) >= 1, timeout=60)
    prefetch = runner._prefetch  # noqa: SLF001 - the session's own prefetcher
    assert prefetch is not None
    await wait_for(lambda: prefetch.embedded >= 1, timeout=60)  # embedded during the call, before it ends
    await client.leave()
    result = await asyncio.wait_for(session, 120)
    note = json.loads(result.note_json.read_text())
    assert note["template"] == "soap" and note["risk_flags"] == []
    cited = {e["segment_id"] for s in note["sections"] for st in s["statements"] for e in st["evidence"]}
    assert cited <= {s.id for s in result.segments}
    assert runner._generator._vectors == {}  # noqa: SLF001 - nothing derived from speech is kept
