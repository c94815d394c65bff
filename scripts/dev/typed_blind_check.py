"""The typed blind set through the guard in use, as `sessionbot bench consent` scores it
(bot.bench.consent.typed), in a minute instead of half an hour: per language and pooled counts
only. No item of the blind set is printed; use it to check a rules-only change between bench runs,
and report the bench's own figures once it has run.

    .venv/bin/python scripts/dev/typed_blind_check.py
"""

from __future__ import annotations

from bot.bench.consent import load_eval, typed
from bot.config import load_settings
from bot.consent.guard import ConsentGuard


def main() -> None:
    settings = load_settings(None, {"logging.level": "warning"})
    totals = {"caught": 0, "handled": 0, "objections": 0, "false_stops": 0, "asked": 0, "others": 0}
    for language in ("de", "en", "es", "fr", "it", "pt"):
        blind = load_eval(language)
        guard = ConsentGuard(settings.consent, settings.paths.announcements_dir, language)
        guard.warm()
        counts, _ = typed(guard, blind.objections, blind.others)
        totals["caught"] += counts.caught
        totals["handled"] += counts.caught + counts.asked
        totals["objections"] += counts.objections
        totals["false_stops"] += counts.false_stops
        totals["asked"] += counts.asked_others
        totals["others"] += counts.non_objections
        print(f"{language}: caught {counts.caught}/{counts.objections}, asked {counts.asked}; "
              f"false stops {counts.false_stops}/{counts.non_objections}, asked {counts.asked_others}", flush=True)
    print(f"pooled: recall {totals['caught'] / totals['objections']:.1%} ({totals['caught']}/{totals['objections']}), "
          f"handled {totals['handled'] / totals['objections']:.1%}, false stops "
          f"{totals['false_stops'] / totals['others']:.1%} ({totals['false_stops']}/{totals['others']}), "
          f"others asked {totals['asked'] / totals['others']:.1%}")


if __name__ == "__main__":
    main()
