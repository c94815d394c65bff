"""How the objection detector does on a development set it has never seen, and why it errs.

A development set has the blind set's format (`language`, `objections`, `non_objections`,
`objections_after_announcement`, `non_objections_after_announcement`) and is written for
development, never the blind set in tests/consent_eval/blind/ (which must stay unread):

    .venv/bin/python scripts/dev/dev_set_check.py DIR [--show] [--sweep]

Prints typed recall, false stops and asking per language as a call decides (the guard in use).
`--show` lists each miss and false stop with what decided (a rule, a semantic tier) and the head's
probability, so a rule that errs can be found. `--sweep` reruns the set at other values of the
settings the dev set can choose between (consent.ask_instead_below, consent.semantic_threshold,
consent.untargeted_threshold), each beside the values in use.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.bench.consent import Counts, EvalSet, announced_just_now, load_eval, typed
from bot.bench.consent_cv import SPEAKER
from bot.bench.stats import rate as _rate
from bot.config import ConsentSettings, load_settings
from bot.consent.guard import ConsentGuard, rule_kind


def rate(part: int, whole: int) -> float:
    return _rate(part, whole) or 0.0


def _line(name: str, counts: Counts) -> str:
    return (f"{name:<34} recall {rate(counts.caught, counts.objections):6.1%} "
            f"handled {rate(counts.caught + counts.asked, counts.objections):6.1%}  "
            f"false stops {rate(counts.false_stops, counts.non_objections):5.1%} "
            f"asked {rate(counts.asked_others, counts.non_objections):5.1%}  "
            f"({counts.caught}+{counts.asked}/{counts.objections}, {counts.false_stops}+{counts.asked_others}/"
            f"{counts.non_objections})")


def _explain(guard: ConsentGuard, items: list[str], is_objection: bool, after: bool) -> None:
    for text in items:
        guard.reset_context()
        at_s = announced_just_now(guard) if after else None
        event = guard.on_text(SPEAKER, text, at_s)
        action = event.action if event is not None else "none"
        wrong = (is_objection and action != "objection") or (not is_objection and action == "objection")
        if wrong or (not is_objection and action == "ask"):
            kind = rule_kind(event.rule) if event is not None else "-"
            detail = event.rule if event is not None else ""
            semantic = guard.semantic
            p = semantic.judge(text, after_announcement=after).probability if semantic is not None else float("nan")
            label = "MISS" if is_objection else ("FALSE STOP" if action == "objection" else "asked")
            print(f"  {label:<10} {action:<9} {kind or '-':<9} p={p:.3f}  {text!r}  [{detail}]")


def evaluate(consent: ConsentSettings, announcements: Path, language: str, dev: EvalSet) -> dict[str, Counts]:
    guard = ConsentGuard(consent, announcements, language)
    guard.warm(wait=True)
    result = {"typed": typed(guard, dev.objections, dev.others)[0]}
    if dev.objections_after_announcement:
        after = ConsentGuard(consent, announcements, language)
        after.warm(wait=True)
        result["after announcement"] = typed(after, dev.objections_after_announcement,
                                             dev.others_after_announcement, after_announcement=True)[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--show", action="store_true", help="list every miss and false stop")
    parser.add_argument("--sweep", action="store_true", help="also at other values of the thresholds")
    args = parser.parse_args()
    settings = load_settings(None)
    announcements = settings.paths.announcements_dir
    consent = settings.consent
    totals: dict[str, dict[str, Counts]] = {}
    variants: dict[str, dict[str, Any]] = {"in use": {}}
    if args.sweep:
        for below in (0.0, 0.1, 0.2, 0.3, 0.5):
            variants[f"ask_instead_below={below}"] = {"ask_instead_below": below}
        for threshold in (0.8, 0.95, 0.98):
            variants[f"semantic_threshold={threshold}"] = {"semantic_threshold": threshold}
        for threshold in (0.9, 0.98, 1.0):
            variants[f"untargeted_threshold={threshold}"] = {"untargeted_threshold": threshold}
    for path in sorted(args.directory.glob("*.toml")):
        language = path.stem
        dev = load_eval(language, path.parent)
        print(f"{language}: {len(dev.objections)} objections, {len(dev.others)} others, "
              f"{len(dev.objections_after_announcement)}+{len(dev.others_after_announcement)} after the announcement")
        for name, update in variants.items():
            for part, counts in evaluate(consent.model_copy(update=update), announcements, language, dev).items():
                print("  " + _line(f"{name}, {part}", counts))
                total = totals.setdefault(name, {}).setdefault(part, Counts())
                for field in ("objections", "caught", "non_objections", "false_stops", "asked", "asked_others"):
                    setattr(total, field, getattr(total, field) + getattr(counts, field))
        if args.show:
            guard = ConsentGuard(consent, announcements, language)
            guard.warm(wait=True)
            _explain(guard, dev.objections, True, False)
            _explain(guard, dev.others, False, False)
            _explain(guard, dev.objections_after_announcement, True, True)
            _explain(guard, dev.others_after_announcement, False, True)
    print("all languages:")
    for name, parts in totals.items():
        for part, counts in parts.items():
            print("  " + _line(f"{name}, {part}", counts))


if __name__ == "__main__":
    main()
