"""Markdown for the benchmarks page, from the JSON that `sessionbot bench …` writes to bench-results/.

Each known file gets the tables its command prints; a file that is missing says so; a shape this
module does not know (an older or newer bench, or another file) shows its top-level figures rather
than failing, so a page can always be generated from whatever results are there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.docsite.markdown import cell, table

Results = dict[str, Any]


def pct(value: Any, places: int = 1) -> str:
    """A rate as a percentage; small ones keep a second decimal (0.45 %, not 0.5 %)."""
    if value is None:
        return "–"
    return f"{100 * value:.{max(places, 2) if 0 < abs(value) < 0.01 else places}f} %"


def seconds(value: Any) -> str:
    return "–" if value is None else f"{value:.2f} s"


def pair(first: str, second: str) -> str:
    return "–" if first == second == "–" else f"{first} / {second}"


def _stop_figures(row: Results, key: str) -> str:
    figures = row.get(key)
    return pair(pct(figures.get("recall")), pct(figures.get("false_stop_rate"))) if figures else "–"


def _pooled(rows: list[Results], key: str) -> str:
    """Recall / false stops over every language: counts recovered from each language's rates."""
    found = [row[key] for row in rows if row.get(key)]
    if len(found) != len(rows):
        return "–"
    objections = sum(f["objections"] for f in found)
    others = sum(f["non_objections"] for f in found)
    caught = sum(round((f["recall"] or 0) * f["objections"]) for f in found)
    stopped = sum(round((f["false_stop_rate"] or 0) * f["non_objections"]) for f in found)
    return pair(pct(caught / objections if objections else None), pct(stopped / others if others else None))


SPOKEN_RUNS = {  # key of each language's row → column: the run as in calls first, then same-run baselines
    "spoken_blind_cautious": "as in calls", "spoken_blind_balanced": "as in calls (balanced)",
    "spoken_blind_without_asr_prompt_baseline": "baseline: no prompt",
    "spoken_blind_without_heard_versions_baseline": "baseline: head without heard versions",
    "spoken_blind_finals_greedy_baseline": "baseline: greedy finals",
}


def _spoken(languages: dict[str, Results]) -> str:
    """Spoken recall / false stops per run, pooled over the languages, and the decision latency."""
    keys = [k for k in SPOKEN_RUNS if any(row.get(k) for row in languages.values())]
    if not keys:
        return ""
    rows = []
    for lang, row in languages.items():
        in_calls = row.get(keys[0], {})
        rows.append([lang, *(_stop_figures(row, k) for k in keys),
                     pair(seconds(in_calls.get("latency_median_s")), seconds(in_calls.get("latency_p95_s")))])
    rows.append(["all", *(_pooled(list(languages.values()), k) for k in keys), "–"])
    return "\n\n".join(["Spoken (blind items of at most 12 words, the language's espeak-ng voice, the in-call path), "
                         "recall / false stops:",
                         table(["language", *(SPOKEN_RUNS[k] for k in keys), "decision latency median / p95"], rows)])


def consent(results: Results) -> str:
    languages: dict[str, Results] = results["languages"]
    thresholds = sorted({k.removeprefix("typed_blind_cautious_threshold_") for row in languages.values() for k in row
                         if k.startswith("typed_blind_cautious_threshold_")}, key=float)
    typed = ["typed_blind_cautious", *(f"typed_blind_cautious_threshold_{t}" for t in thresholds),
             "typed_blind_cautious_as_found_baseline", "typed_blind_cautious_rules_only", "typed_blind_balanced",
             "typed_blind_naive_keyword_baseline"]
    header = ["language", f"typed recall / false stops (in calls: cautious, {results['semantic_threshold']})",
              "handled / asked", *(f"at threshold {t}" for t in thresholds),
              "baseline: the detector as issue 17 found it", "rules alone (cautious)", "`balanced`",
              "naive keyword baseline", "baseline: head without heard versions",
              "baseline: head without mined negatives"]
    typed += ["typed_blind_cautious_without_heard_versions_baseline",
              "typed_blind_cautious_without_mined_negatives_baseline"]
    rows = []
    for language, row in languages.items():
        cautious = row.get("typed_blind_cautious", {})
        rows.append([
            language, *(_stop_figures(row, key) for key in typed[:1]),
            pair(pct(cautious.get("handled_rate")), pct(cautious.get("asked_rate_non_objections"))),
            *(_stop_figures(row, key) for key in typed[1:]),
        ])
    everything = list(languages.values())
    pooled = [_pooled(everything, key) for key in typed]
    rows.append(["all", pooled[0], "–", *pooled[1:]])
    parts = [f"Model `{results['model']}`, sensitivity in calls `{results['sensitivity_in_calls']}`. "
             "Blind set, typed; handled = objections stopped or asked about, asked = non-objections "
             "asked about.", table(header, rows)]
    spoken = _spoken(languages)
    if spoken:
        parts.append(spoken)
    clinical = languages.get("en", {}).get("typed_clinical_dialogue_cautious")
    if clinical:
        naive = languages["en"].get("typed_clinical_dialogue_naive_keyword_baseline", {})
        unmined = languages["en"].get("typed_clinical_dialogue_without_mined_negatives_baseline", {})
        parts.append(f"English ordinary clinical talk ({clinical['non_objections']} turns of the ACI-BENCH validation "
                     f"split, held out): false stops {pct(clinical['false_stop_rate'])}, asked about "
                     f"{pct(clinical.get('asked_rate_non_objections'))} (baselines: head without mined negatives "
                     f"{pct(unmined.get('false_stop_rate'))}, naive keywords {pct(naive.get('false_stop_rate'))}).")
    after = {lang: row for lang, row in languages.items() if row.get("typed_blind_after_announcement_cautious")}
    if after:
        keys = ("typed_blind_after_announcement_cautious", "typed_blind_after_announcement_rules_only",
                "typed_blind_after_announcement_naive_keyword_baseline")
        parts += ["Said right after the assistant announced itself (deictic objections such as \"turn that thing "
                  "off\", and look-alikes), checked with that context, typed:",
                  table(["language", "recall / false stops", "baseline: deictic rules (before)", "naive keyword baseline"],
                        [[lang, *(_stop_figures(row, key) for key in keys)] for lang, row in after.items()]
                        + [["all", *(_pooled(list(after.values()), key) for key in keys)]])]
    replayed = results.get("clinical_dialogues_replayed")
    if replayed:
        parts.append(_replayed(replayed))
    parts.append(_cross_validated(results["examples_cross_validated"]))
    if "after_announcement_cross_validated" in results:
        parts.append(_after_announcement_cross_validated(results["after_announcement_cross_validated"]))
    return "\n\n".join(parts)


def _replayed(replayed: Results) -> str:
    names = {"after_announcement": "validation split, after the announcement",
             "without_announcement_baseline": "baseline: without the announcement",
             "without_mined_negatives_baseline": "baseline: head without mined negatives",
             "naive_keyword_baseline": "baseline: naive keywords",
             "training_split_mined_from": "training split (not held out: mined from), after the announcement",
             "training_split_without_mined_negatives_baseline": "training split, head without mined negatives"}
    rows = [[names.get(name, name), f"{f['dialogues_falsely_stopped']} of {f['dialogues']}",
             str(f["falsely_stopped_within_context_s"]), str(f["turns_asked_about"]),
             cell(", ".join(f"{kind} {n}" for kind, n in f["falsely_stopped_by_kind"].items()) or "–")]
            for name, f in replayed.items()]
    return "\n\n".join([
        "ACI-BENCH dialogues replayed turn by turn through the in-call check, right after the announcement "
        "(`bot/bench/dialogue_replay.py`); the first stop ends a dialogue. The validation split is held out; the "
        "objection head learned hard negatives from the training split (`bot/consent/mined.py`):",
        table(["replay", "dialogues falsely stopped", "of them within consent.context_s", "turns asked about",
               "decided by"], rows)])


def _after_announcement_cross_validated(after: Results) -> str:
    if "skipped" in after:
        return f"Cross-validation right after the announcement: skipped ({cell(str(after['skipped']))})."
    rows = [[f"{setting} (in use)" if setting == after["in_use"] else setting, pct(f["recall"]),
             pct(f["false_stop_rate"]), pct(f["handled_rate"]), pct(f["asked_rate_non_objections"])]
            for setting, f in after["by_weight_and_threshold"].items() if setting.split()[-1] in ("0.8", "0.9", "0.95")]
    rules = after["rules_only"]
    return "\n\n".join([
        f"Right after the announcement ({after['examples']} after-announcement examples, {after['objections']} "
        f"objections), {after['folds']}-fold cross-validated, each judged by an announcement model trained on "
        f"every ordinary example and the other folds: the rules alone {pct(rules['recall'])} recall / "
        f"{pct(rules['false_stop_rate'])} false stops; with the model (weight of those examples, stop threshold; "
        f"asking from {after['ask_threshold_in_use']}):",
        table(["weight, threshold", "recall", "false stops", "handled", "asked (non-objections)"], rows)])


def _cross_validated(examples: Results) -> str:
    if "skipped" in examples:
        return f"Cross-validation on the examples: skipped ({cell(str(examples['skipped']))})."
    in_use = str(examples["threshold_in_use"])
    logistic = examples.get("logistic_baseline_by_threshold", {})
    rows = [[f"{t} (in use)" if t == in_use else t, pct(f["recall"]), pct(f["false_stop_rate"]),
             _stop_figures(logistic, t)] for t, f in examples["by_threshold"].items()]
    rules = examples["rules_only"]
    parts = [f"On the examples ({examples['examples']} utterances, {examples['objections']} objections), "
             f"{examples['folds']}-fold cross-validated: rules alone {pct(rules['recall'])} recall / "
             f"{pct(rules['false_stop_rate'])} false stops; with the semantic signal (head: "
             f"`{examples.get('head', 'logistic')}`; rules it doubts asked about instead):",
             table(["semantic threshold", "recall", "false stops", "baseline: logistic regression, as found"], rows),
             f"Lowest threshold with ≤ 1 % false stops: {examples['lowest_threshold_within_1pct_false_stops']}."]
    untargeted = examples.get("untargeted_by_threshold")
    if untargeted:
        in_use_untargeted = str(examples["untargeted_threshold_in_use"])
        parts += [f"Utterances of four words or more that name no target, judged too (at the targeted threshold "
                  f"{in_use}), by their own threshold:",
                  table(["threshold, no target named", "recall", "false stops"],
                        [[f"{t} (in use)" if t == in_use_untargeted else t, pct(f["recall"]), pct(f["false_stop_rate"])]
                         for t, f in untargeted.items()])]
    asking = examples.get("asking_by_ask_threshold")
    if asking:
        ask_in_use = str(examples.get("ask_threshold_in_use"))
        rows = [[f"{t} (in use)" if t == ask_in_use else t, pct(f["handled_rate"]), pct(f["asked_rate_objections"]),
                 pct(f["asked_rate_non_objections"]),
                 ", ".join(f"{lang} {pct(v['asked_rate_non_objections'])}" for lang, v in f["by_language"].items())]
                for t, f in asking.items()]
        parts += [f"Asking when unsure, below the stop threshold {in_use}:",
                  table(["ask threshold", "handled", "asked (objections)", "asked (non-objections)",
                         "asked (non-objections) by language"], rows)]
    heard = examples.get("heard_versions")
    if heard:
        parts += [_heard_versions(heard, examples)]
    return "\n\n".join(parts)


def _heard_versions(heard: Results, examples: Results) -> str:
    def row(name: str, figures: Results) -> list[str]:
        ours = figures["with_heard_training"]
        return [name, pct(ours["recall"]), pct(ours["false_stop_rate"]),
                _stop_figures(figures, "without_heard_training_baseline")]

    rows = [row("all", heard)] + [row(lang, figures) for lang, figures in heard["by_language"].items()]
    typed, typed_baseline = examples["typed_in_use"], heard["typed_examples_without_heard_training_baseline"]
    return "\n\n".join([
        f"Heard versions (what Whisper made of {heard['heard_versions']} spoken examples, {heard['objections']} of "
        f"them objections; the head learns {heard['learned_from']}, an objection's only where at most "
        f"{pct(heard['max_objection_wer_learned'])} of its words are wrong), same folds, the whole detector as in "
        "calls on the heard text of the held-out examples:",
        table(["language", "recall", "false stops", "baseline: head trained without heard versions"], rows),
        f"The typed examples, same folds: {pct(typed['recall'])} recall / {pct(typed['false_stop_rate'])} false stops "
        f"with heard versions learned, {pct(typed_baseline['recall'])} / {pct(typed_baseline['false_stop_rate'])} "
        "without."])


def asr(results: Results) -> str:
    header = ["window", "sessions", "end of speech → text, median", "p95", "finished behind real time",
              "CPU s per session-audio s", "partials' share of decoding", "partials shed",
              "early finals used / wasted", "finals made cheap by load (greedy, no context)", "finals in context",
              "peak RSS", "real time?"]
    rows = []
    for window, runs in (("utterance-sized", results["load"]),
                         ("same, without early finals", results.get("without_early_finals", [])),
                         ("same, without context", results.get("without_context", [])),
                         ("same, finals greedy", results.get("finals_greedy", [])),
                         ("baseline: Whisper's 30 s", results["baseline_full_window"])):
        for i, run in enumerate(runs):
            early = pair(str(run["early_finals_used"]), str(run["early_finals_wasted"])) \
                if "early_finals_used" in run else "–"
            rows.append([window if i == 0 else "", str(run["sessions"]), seconds(run["latency_median_s"]),
                         seconds(run["latency_p95_s"]), seconds(run["finished_behind_real_time_s"]),
                         f"{run['cpu_s_per_session_audio_s']:.3f}", pct(run["compute_share_partials"]),
                         str(run["partials_shed"]), early, pct(run["finals_greedy_share"]),
                         pct(run.get("finals_in_context_share")),
                         f"{run['peak_rss_mb']:.0f} MB", "yes" if run["real_time"] else "no"])
    sets = results["wer"]["sets"]
    columns = [c for c in next(iter(sets.values())) if c not in ("language", "words")]
    wer_rows = [[name, str(row["words"]), *(pct(row[c], 1) for c in columns)] for name, row in sets.items()]
    pooled = results["wer"]["pooled"]
    wer_rows.append(["all (word-weighted)", str(sum(r["words"] for r in sets.values())),
                     *(pct(pooled[c], 1) for c in columns)])
    workload, memory, noise = results["workload"], results["memory"], results["hallucination"]
    dropped = ", ".join(f"{k} {v}" for k, v in noise.get("dropped_by_filters", {}).items()) or "none"
    kind = "LOCKSTEP (the worst case: every utterance of every session ends at once)" \
        if workload["lockstep_worst_case"] else "different recordings per session, staggered starts"
    return "\n\n".join([
        f"Model `{results['model']}`, finals at beam {results['beam_size']} (greedy with "
        f"{results['greedy_when_waiting']} or more waiting or another decoder at work), "
        + (f"each final heard after the speaker's previous utterance (up to {results['context_s']:g} s; dropped "
           "with the beam under load), " if results.get("context_s") else "") +
        f"early finals after {results.get('early_final_ms', 0)} ms of silence (0 = off), "
        f"{results.get('num_workers', 1)} decoder worker(s), "
        f"{results.get('cpu_count', '?')} CPUs; "
        f"{workload['seconds_per_level']:.0f} s per level, {kind}, pauses {workload['pauses_s'][0]}–"
        f"{workload['pauses_s'][1]} s (seed {workload['seed']}).",
        table(header, rows),
        "Word error rate, streaming (finals at each beam; \"no context\": each utterance alone) against "
        "offline faster-whisper on the same recordings (same model, beam 5):",
        table(["set", "words", *(c.replace("_", " ") for c in columns)], wer_rows),
        "\n".join([
            f"- Capacity: {results['capacity_sessions_real_time']} concurrent two-party sessions in real time.",
            "- Memory: " + ", ".join(f"{k.removeprefix('rss_').removesuffix('_mb').replace('_', ' ')} {v} MB"
                                     for k, v in memory.items() if v is not None) + ".",
            f"- {noise['audio_s']} s of {', '.join(noise.get('kinds', [])) or 'non-speech'}: {noise['words']} words "
            f"(dropped by the filters: {dropped}).",
        ]),
    ])


def notes(results: Results) -> str:
    rouge = results["rouge"]
    parts = [f"ACI-BENCH {rouge['split']} ({rouge['pairs']} pairs), template `{rouge['template']}`, "
             f"sections by {rouge['backend']}: ROUGE F1.",
             table(["system", "ROUGE-1", "ROUGE-2", "ROUGE-L"],
                   [[name, *(f"{scores[k]:.1f}" for k in ("rouge1", "rouge2", "rougeL"))]
                    for name, scores in rouge["rouge_f1"].items()]),
             f"Statements: {rouge['statements']}; evidence valid {pct(rouge['evidence_valid_share'])}; supported "
             f"(≥ {pct(rouge['support_threshold'])} of their words in the evidence) {pct(rouge['supported_share'])}"
             + (f"; verbatim quotes {pct(rouge['verbatim_quote_share'])} of statements (earlier drafting, same run: "
                f"{pct(rouge['verbatim_quote_share_earlier'])})." if "verbatim_quote_share" in rouge else ".")]
    sections = results.get("sections", {})
    if "error" in sections:
        parts.append(f"Section accuracy: {cell(str(sections['error']))}.")
    elif sections:
        rows = [[name, pct(sections[name]["all_units"]), pct(sections[name]["units_feeding_a_section"])]
                for name in ("learned", "anchors", "learned_where_confident_else_anchors") if name in sections]
        parts += [f"Section accuracy ({sections.get('split')}):",
                  table(["sections by", "all units", "units feeding a section"], rows)]
    speed = results.get("speed", {})
    if "error" in speed:
        parts.append(f"Speed: {cell(str(speed['error']))}.")
    elif speed:
        parts.append(f"60-minute transcript ({speed['segments']} segments, {speed.get('cpus', '?')} cores): first "
                     f"note {seconds(speed['seconds_first_note'])}, next {seconds(speed['seconds_next_note'])}, after "
                     f"prefetch {seconds(speed['seconds_after_prefetch'])}; peak RSS {speed['peak_rss_mib']:.0f} MiB.")
    rows = []
    for name, figures in results["risk"].items():
        both = [figures["lexicon"], figures["combined"] or {}]
        rows.append([name, *(pair(*(pct(f.get(k)) for f in both))
                             for k in ("recall", "precision", "false_flag_rate", "category_accuracy")),
                     f"{figures['risk_items']} + {figures['non_risk_items']}"])
    parts += ["Risk flags on tests/risk_eval, lexicon alone / lexicon + semantic:",
              table(["set", "recall", "precision", "non-risk flagged", "category accuracy", "risk + non-risk items"],
                    rows)]
    visits = results.get("risk_on_visit_talk")
    if visits:
        parts.append(f"ACI-BENCH patient turns flagged ({visits['patient_turns']}): lexicon "
                     f"{pct(visits['lexicon_flag_rate'])}, lexicon + semantic {pct(visits['combined_flag_rate'])}.")
    calibration = results.get("risk_calibration")
    if calibration:
        parts.append(f"Semantic risk threshold in use: {cell(_inline(calibration.get('in_use')))}; re-derived from "
                     f"the dev sets: {cell(_inline(calibration.get('chosen')))}.")
    return "\n\n".join(parts)


def room(results: Results) -> str:
    rss = results["server_rss_mib"]
    return table(["rooms", "connections", "messages per room", "payload", "relayed", "elapsed", "messages/s",
                  "server RSS before / peak / after"],
                 [[str(results["rooms"]), str(results["connections"]), str(results["messages_per_room"]),
                   f"{results['payload_bytes']} B", str(results["relayed"]), seconds(results["elapsed_s"]),
                   str(results["messages_per_s"]), f"{rss['before']} / {rss['peak']} / {rss['after']} MiB"]]) + (
        f"\n\n{cell(str(results['limits']))}." if results.get("limits") else "")


def soak(results: Results) -> str:
    verdict = results["verdict"]
    samples = [("before", results["baseline"]), *(("", s) for s in results["samples"]), ("after", results["after"])]
    return "\n\n".join([
        f"Model `{results['model']}`, {results['sessions']} session(s) × {results['minutes']} min, a sample every "
        f"{results['interval_s']} s. RSS growth after the {results['warmup_s']} s warm-up: "
        f"{results['rss_growth_after_warmup_mb']} MB ({'ok' if verdict['rss_growth_ok'] else 'too much'}); peak "
        f"{results['rss_peak_mb']} MB; deepest queue {results['queue_depth_max']}; left running beyond the baseline "
        f"afterwards: {cell(_inline(results['left_beyond_baseline']))} "
        f"({'none' if verdict['nothing_left_running'] else 'a leak'}).",
        table(["", "t (s)", "RSS (MB)", "fds", "tasks", "threads", "queue"],
              [[label, *(str(s[k]) for k in ("t_s", "rss_mb", "fds", "tasks", "threads", "queue_depth"))]
               for label, s in samples]),
    ])


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_inline(v)}" for k, v in value.items())
    return str(value)


def scalars(results: Any) -> str:
    """What any JSON object shows: its top-level numbers, strings and flags."""
    if not isinstance(results, dict):
        return "Not a JSON object: nothing to show."
    rows = [[f"`{key}`", cell(json.dumps(value, ensure_ascii=False))] for key, value in results.items()
            if value is None or isinstance(value, str | int | float | bool)]
    return table(["key", "value"], rows) if rows else "No top-level figures."


RENDERERS: dict[str, Callable[[Results], str]] = {
    "consent": consent, "asr": asr, "notes": notes, "room": room, "soak": soak,
}


def bench_section(results_dir: Path, name: str) -> str:
    """The part of the page for `sessionbot bench NAME`: its tables, or why there are none."""
    path = results_dir / f"{name}.json"
    if not path.is_file():
        return f"Not run yet: `sessionbot bench {name}`."
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return (f"`bench-results/{name}.json` could not be read ({cell(type(exc).__name__)}): "
                f"run `sessionbot bench {name}` again.")
    source = f"From `bench-results/{name}.json`."
    try:
        return f"{source}\n\n{RENDERERS[name](results)}"
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError):
        return f"{source} Its shape is not the one this page knows; the top-level figures:\n\n{scalars(results)}"


def other_results(results_dir: Path) -> str:
    """Any other JSON in bench-results/, by its top-level figures."""
    others = sorted(p for p in results_dir.glob("*.json") if p.stem not in RENDERERS)
    if not others:
        return "None."
    parts = []
    for path in others:
        try:
            shown = scalars(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            shown = f"Could not be read ({cell(type(exc).__name__)})."
        parts.append(f"`bench-results/{path.name}`:\n\n{shown}")
    return "\n\n".join(parts)
