"""`bench soak` on a few seconds of real speech: the report has its shape and nothing is left running."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from bot.bench.soak import SoakLoad, run_soak

pytestmark = pytest.mark.slow  # loads the speech model


async def test_a_short_soak_reports_every_measure_and_leaves_nothing_running(speech_dir: Path, make_settings,
                                                                           monkeypatch) -> None:
    monkeypatch.setenv("SESSIONBOT_DATA_DIR", str(speech_dir.parent))
    threads_before = threading.active_count()
    lines: list[str] = []
    results = await run_soak(make_settings(), SoakLoad(sessions=1, minutes=4 / 60, interval_s=1.0, warmup_s=1.0),
                             report=lines.append)
    samples = results["samples"]
    assert len(samples) >= 3 and samples[-1]["t_s"] >= 4.0
    for sample in [results["baseline"], *samples, results["after"]]:
        assert set(sample) == {"t_s", "rss_mb", "fds", "tasks", "threads", "os_threads", "queue_depth"}
        assert sample["rss_mb"] > 0 and sample["fds"] > 0 and sample["threads"] >= 1
    assert max(s["tasks"] for s in samples) > results["baseline"]["tasks"]  # the feeders did run and were counted
    assert set(results["left_beyond_baseline"]) == {"tasks", "threads", "os_threads", "fds"}
    assert isinstance(results["rss_growth_after_warmup_mb"], float)
    assert results["verdict"]["nothing_left_running"], results["left_beyond_baseline"]
    assert any("RSS" in line for line in lines)  # progress while it runs
    # The engine was closed: its decoder threads go (close() does not wait for them, so allow them a few
    # seconds) and no task of the soak outlives it.
    for _ in range(50):
        if threading.active_count() <= threads_before:
            break
        await asyncio.sleep(0.1)
    assert threading.active_count() <= threads_before, [t.name for t in threading.enumerate()]
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
