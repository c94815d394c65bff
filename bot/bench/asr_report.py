"""What `sessionbot bench asr` prints and draws: the curve of sessions against latency and CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

TARGET_P95_S = 2.0


def _fmt(value: object, unit: str = "") -> str:
    return "–" if value is None else f"{value}{unit}"


def print_results(console: Console, results: dict[str, Any]) -> None:
    console = Console(file=console.file, width=max(console.width, 160))  # twelve columns: never squeezed to …
    seconds = results["workload"]["seconds_per_level"]
    worst = " — LOCKSTEP: the worst case, every utterance ending at once" if results["workload"]["lockstep_worst_case"] else ""
    table = Table(title=f"Streaming transcription, {results['model']}, finals beam {results['beam_size']} "
                        f"({seconds:.0f} s per level{worst})")
    for column in ("window", "sessions", "median", "p95", "behind", "CPU s / audio s", "partials' share",
                   "partials shed", "early finals used / wasted", "finals cheap (load)", "finals in context", "peak RSS",
                   "real time"):
        table.add_column(column, no_wrap=column == "window")
    for window, rows in (("utterance", results["load"]),
                         ("utterance, no early finals", results.get("without_early_finals", [])),
                         ("utterance, no context", results.get("without_context", [])),
                         ("utterance, finals greedy", results.get("finals_greedy", [])),
                         ("30 s (baseline)", results["baseline_full_window"])):
        for row in rows:
            table.add_row(window, str(row["sessions"]), _fmt(row["latency_median_s"], " s"), _fmt(row["latency_p95_s"], " s"),
                          _fmt(row["finished_behind_real_time_s"], " s"), f"{row['cpu_s_per_session_audio_s']:.3f}",
                          _fmt(row["compute_share_partials"]), str(row["partials_shed"]),
                          f"{row.get('early_finals_used', 0)} / {row.get('early_finals_wasted', 0)}", _fmt(row["finals_greedy_share"]),
                          _fmt(row.get("finals_in_context_share")), f"{row['peak_rss_mb']:.0f} MB", "yes" if row["real_time"] else "no")
    console.print(table)
    wer = Table(title="Word error rate: streaming vs offline faster-whisper (same model, beam 5)")
    sets = results["wer"]["sets"]
    columns = [c for c in next(iter(sets.values())) if c not in ("language", "words")]
    for column in ("set", "words", *columns):
        wer.add_column(column)
    for name, row in sets.items():
        wer.add_row(name, str(row["words"]), *(f"{row[c]:.3f}" for c in columns))
    pooled = results["wer"]["pooled"]
    wer.add_row("all (word-weighted)", str(sum(r["words"] for r in sets.values())), *(f"{pooled[c]:.3f}" for c in columns))
    console.print(wer)
    console.print(f"capacity: {results['capacity_sessions_real_time']} concurrent two-party sessions in real time; "
                  f"memory per extra session: {results['memory']['per_extra_session_mb']} MB")
    console.print(f"hallucinated words on {results['hallucination']['audio_s']} s of silence and noise: "
                  f"{results['hallucination']['words']}")


def plot(results: dict[str, Any], path: Path) -> None:
    """Sessions against p95 latency and CPU per audio second, with the baseline's points."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, latency = plt.subplots(figsize=(7, 4.2), dpi=120)
    cpu = latency.twinx()
    for rows, style, label in ((results["load"], "o-", "utterance window"),
                               (results["baseline_full_window"], "s--", "30 s window (baseline)")):
        sessions = [r["sessions"] for r in rows]
        latency.plot(sessions, [r["latency_p95_s"] for r in rows], style, color="tab:blue", label=f"p95 latency, {label}")
        cpu.plot(sessions, [r["cpu_s_per_session_audio_s"] for r in rows], style, color="tab:orange",
                 label=f"CPU s per audio s, {label}")
    latency.axhline(TARGET_P95_S, color="tab:blue", linestyle=":", linewidth=1)
    latency.set_xlabel("concurrent two-party sessions")
    latency.set_ylabel("end of speech → final text, p95 (s)", color="tab:blue")
    cpu.set_ylabel("CPU seconds per session-audio second", color="tab:orange")
    latency.set_title(f"sessionbot bench asr: {results['model']}, finals beam {results['beam_size']}, "
                      f"{results['cpu_count']} cores")
    handles = latency.get_legend_handles_labels()[0] + cpu.get_legend_handles_labels()[0]
    labels = latency.get_legend_handles_labels()[1] + cpu.get_legend_handles_labels()[1]
    latency.legend(handles, labels, fontsize=7, loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
