"""Objection detection: does this utterance (spoken or typed) mean "stop, I do not consent"?

The rules live in announcements/<language>.toml under [objection], where a
clinician can read and extend them. The utterance is split into clauses (at
punctuation and at the language's `clause_breaks`, e.g. "but"), each clause is
normalized (lower case, Unicode NFC, typographic apostrophes folded,
punctuation removed, accents kept), and then:

1. `whole` patterns must match the entire utterance ("stop", "stop it", "para ya");
2. `not_objection` patterns are cut out of the clause first, so that "I don't
   mind being recorded" never counts, while "I don't mind, but turn the AI
   off" still does;
3. `patterns` (and, with sensitivity "cautious", also `cautious_patterns`) may
   match anywhere in what is left;
4. cue co-occurrence: a `targets` cue (the AI, the bot, recording,
   transcription…) and an `intents` cue (don't want, turn off, get rid of,
   without, withdraw…) in the same clause, with no `acceptances` cue (fine,
   no problem, leave it on…) in it, is an objection. With sensitivity
   "cautious" the `cautious_intents` count as intents too.
   A clause with a `denials` cue ("I wasn't talking about the AI", "no need to
   stop the recording", "who said I don't want the robot?") counts no cue either,
   and a pattern or the semantic signal (6) that finds an objection in it asks
   instead of stopping: the meaning model reads negation poorly. An intent or
   pattern that is negated ("I don't object", "je refuse pas") counts for nothing,
   and chat shorthand ("q", "nn") is read in full first (wording.py).

5. context (bot/consent/context.py): when the clinician has just asked about the assistant, a
   whole utterance matching `refusals` ("no", "not really") answers it: an objection. While the
   assistant announces itself and shortly after, a refusal needs no target ("Not today, thanks.",
   "Can you switch that off?"): every whole utterance goes to the semantic signal's announcement
   model; without the signal, the `deictic_patterns` ("turn that thing off", "apáguelo") decide.

6. with sensitivity "cautious", a whole utterance (a final segment or a chat
   message of at least SEMANTIC_MIN_WORDS words, never a partial) with a clause
   that names a target but matched no rule goes to the semantic signal
   (bot/consent/semantic.py): does a head over the embeddings, trained on every
   language's labelled examples, say it is an objection? A rule's objection that head is sure is
   none is asked about instead (`consent.ask_instead_below`). One of two or three words naming a
   target ("AI out.") is only asked about, at the stop threshold: too short to stop on meaning.

7. one naming no target at all stops only when that head is near certain
   (`consent.untargeted_threshold`, 0.95) and is never asked about: that is how "I don't want to
   go to work" or "the voice in my head won't stop" stay non-objections while "I'd feel safer if
   nothing was writing this down" does not.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from bot.config import ConfigError
from bot.consent.context import NO_CONTEXT, Cues
from bot.consent.semantic import SemanticSignal
from bot.consent.wording import PLAIN, Wording
from bot.resources import lookup, where_to_copy

Sensitivity = Literal["balanced", "cautious"]
# Shorter texts ("the AI", "recording") sit nearer the short example objections ("no AI") than
# anything else: the rules stop on short objections, and the signal only asks about them.
SEMANTIC_MIN_WORDS = 4
SHORT_MIN_WORDS = 2  # a shorter text naming a target is a bare mention ("the AI?"), never asked about
PASSAGES_FROM_WORDS = 20  # an utterance this long is also judged passage by passage (ObjectionDetector._passages)
_PUNCTUATION = re.compile(r"[^\w\s']")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower().translate(_APOSTROPHES)
    text = _PUNCTUATION.sub(" ", text)
    return " ".join(text.split())


def long_enough_to_judge(text: str) -> bool:
    """Whether the semantic signal judges an utterance by its meaning outside the announcement's
    moment: SEMANTIC_MIN_WORDS words or more (shorter fragments read as short objections)."""
    return len(normalize(text).split()) >= SEMANTIC_MIN_WORDS


@dataclass(frozen=True)
class ObjectionRules:
    language: str
    whole: tuple[re.Pattern[str], ...]
    patterns: tuple[re.Pattern[str], ...]
    cautious_patterns: tuple[re.Pattern[str], ...]
    not_objection: tuple[re.Pattern[str], ...]
    clause_breaks: re.Pattern[str] | None = None
    targets: tuple[re.Pattern[str], ...] = ()
    intents: tuple[re.Pattern[str], ...] = ()
    cautious_intents: tuple[re.Pattern[str], ...] = ()
    acceptances: tuple[re.Pattern[str], ...] = ()
    denials: tuple[re.Pattern[str], ...] = ()
    deictic_patterns: tuple[re.Pattern[str], ...] = ()
    refusals: tuple[re.Pattern[str], ...] = ()
    wording: Wording = PLAIN  # chat shorthand and negation (wording.py)


@dataclass(frozen=True)
class Decision:
    objection: bool
    language: str
    rule: str | None = None  # which pattern decided (a rule, never the text)
    unsure: bool = False  # no objection, but in the ask band (consent.ask_threshold), or an ambiguous answer
    bare: bool = False  # a whole utterance of "stop", or a refusal answering a question: too short for a second opinion
    denied: bool = False  # the rule matched in a clause that denies objecting ("no need to stop the recording")


class Screening(NamedTuple):
    decision: Decision
    targeted: bool  # the semantic signal would judge it as naming a target (consent.semantic_threshold)
    untargeted: bool  # as naming none (consent.untargeted_threshold)
    denied: bool  # every clause naming a target denies objecting: the targeted tier asks, never stops


_KEYS = ("whole", "patterns", "cautious_patterns", "not_objection", "clause_breaks", "targets", "intents",
         "cautious_intents", "acceptances", "denials", "deictic_patterns", "refusals", "negations", "negations_after")
_CUE_KEYS = ("targets", "intents", "cautious_intents", "acceptances", "denials", "clause_breaks")


def _compile(path: Path, key: str, sources: object) -> tuple[re.Pattern[str], ...]:
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ConfigError(f"{path}: objection.{key} must be a list of strings. Fix: compare with {where_to_copy('announcements/en.toml')}.")
    compiled = []
    for source in sources:
        # Cues are whole words or phrases: "ai" must not match inside "said".
        text = rf"(?<!\w)(?:{source})(?!\w)" if key in _CUE_KEYS else source
        try:
            compiled.append(re.compile(text))
        except re.error as exc:
            raise ConfigError(f"{path}: objection.{key}: bad pattern {source!r} ({exc}). Fix: correct the regular expression.") from None
    return tuple(compiled)


def load_rules(directory: Path, language: str) -> ObjectionRules:
    path = lookup(directory, f"{language}.toml")
    try:
        section = tomllib.loads(path.read_text(encoding="utf-8")).get("objection")
    except FileNotFoundError:
        raise ConfigError(f"no announcements file for {language!r} ({path}).") from None
    if not isinstance(section, dict) or not section.get("patterns"):
        raise ConfigError(f"{path}: no [objection] patterns. Fix: add them (see {where_to_copy('announcements/en.toml')}).")
    unknown = set(section) - {*_KEYS, "shorthand"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) objection.{', objection.'.join(sorted(unknown))}. Fix: remove them.")
    compiled = {key: _compile(path, key, section.get(key, [])) for key in _KEYS}
    breaks = section.get("clause_breaks", [])
    return ObjectionRules(
        language=language,
        whole=compiled["whole"],
        patterns=compiled["patterns"],
        cautious_patterns=compiled["cautious_patterns"],
        not_objection=compiled["not_objection"],
        clause_breaks=re.compile("|".join(rf"(?<!\w)(?:{b})(?!\w)" for b in breaks)) if breaks else None,
        targets=compiled["targets"],
        intents=compiled["intents"],
        cautious_intents=compiled["cautious_intents"],
        acceptances=compiled["acceptances"],
        denials=compiled["denials"],
        deictic_patterns=compiled["deictic_patterns"],
        refusals=compiled["refusals"],
        wording=Wording.build(_shorthand(path, section.get("shorthand", {})), section.get("negations", []),
                              section.get("negations_after", [])),
    )


def _shorthand(path: Path, table: object) -> dict[str, str]:
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) and k == normalize(k)
                                              and " " not in k for k, v in table.items()):
        raise ConfigError(f"{path}: objection.shorthand must map single lower-case words to what they stand for "
                          f'(q = "que"). Fix: compare with {where_to_copy("announcements/pt.toml")}.')
    return {k: normalize(v) for k, v in table.items()}


class ObjectionDetector:
    """Checks utterances against the rules of the session's language, plus those of
    the language the utterance was recognised in (people switch languages)."""

    def __init__(
        self, directory: Path, session_language: str, sensitivity: Sensitivity = "cautious",
        semantic: SemanticSignal | None = None,
    ) -> None:
        self._directory = directory
        self.session_language = session_language
        self.sensitivity = sensitivity
        self._rules: dict[str, ObjectionRules] = {session_language: load_rules(directory, session_language)}
        self._semantic = semantic  # multilingual, for every language's rules; consulted only when cautious

    def _rules_for(self, language: str | None) -> list[ObjectionRules]:
        rules = [self._rules[self.session_language]]
        if language and language != self.session_language:
            if language not in self._rules and (self._directory / f"{language}.toml").is_file():
                self._rules[language] = load_rules(self._directory, language)
            if language in self._rules:
                rules.append(self._rules[language])
        return rules

    def check(self, text: str, language: str | None = None, semantic: bool = True, cues: Cues = NO_CONTEXT) -> Decision:
        """`semantic=False` for fragments (partials, low-confidence text): the semantic signal
        mistakes a fragment such as "what about the AI" for a short objection. The signal is
        multilingual, so it is asked at most once, after every language's rules. `cues`: what the
        moment lets the utterance mean (context.py)."""
        asked_for: str | None = None  # the language whose rules would ask the semantic signal
        judged = self._judged_by_meaning(text)
        named = False  # a target left once acceptances and look-alikes are cut out
        denied: bool | None = None  # every clause naming a target denies objecting ("no objection, let it transcribe")
        for rules in self._rules_for(language):
            decision, named_here, denied_here = self._rules_check(text, rules, cues)
            if decision.objection:
                return self._second_opinion(decision, text, semantic, cues)
            if decision.unsure:
                return decision
            if named_here and asked_for is None and judged:
                asked_for = rules.language
            named = named or named_here
            if named_here:
                denied = denied_here if denied is None else denied and denied_here
        if not semantic or self._semantic is None:
            return Decision(False, language or self.session_language)
        if cues.bot_just_spoke:
            # Right after the announcement a refusal needs no target ("Not today, thanks.", "Eso no,
            # por favor."): every whole utterance is judged by the model that learned such moments.
            verdict = self._semantic.judge(text, after_announcement=True)
            if verdict.objection and denied:  # the meaning model reads negation poorly: ask
                return Decision(False, asked_for or language or self.session_language,
                                f"denied: context: semantic p={verdict.probability:.3f}", unsure=True)
            if verdict.objection or verdict.unsure:
                return Decision(verdict.objection, asked_for or language or self.session_language,
                                f"context: semantic p={verdict.probability:.3f}", unsure=verdict.unsure)
        elif asked_for is not None:
            verdict = self._semantic.judge(text, parts=self._passages(text, language))
            if verdict.objection and denied:
                return Decision(False, asked_for, f"denied: semantic p={verdict.probability:.3f}", unsure=True)
            if verdict.objection or verdict.unsure:
                return Decision(verdict.objection, asked_for, f"semantic: p={verdict.probability:.3f}",
                                unsure=verdict.unsure)
        elif named and self.sensitivity == "cautious" and len(normalize(text).split()) >= SHORT_MIN_WORDS:
            # "AI out.", "kill the transcript": chat-short objections no rule lists are asked about.
            verdict = self._semantic.judge(text, short=True)
            if verdict.unsure:
                return Decision(False, language or self.session_language, f"semantic: short p={verdict.probability:.3f}",
                                unsure=True)
        elif judged and not self.names_target(text, language):
            # People name the assistant in words no rule lists ("whatever is writing this down").
            verdict = self._semantic.judge(text, untargeted=True)
            if verdict.objection:
                return Decision(True, language or self.session_language,
                                f"semantic: untargeted p={verdict.probability:.3f}")
        return Decision(False, language or self.session_language)

    def _second_opinion(self, decision: Decision, text: str, whole: bool, cues: Cues) -> Decision:
        """A rule's objection that the meaning model is confident is none ("Is it recording right now?",
        "Is the AI transcribing everything right now?") is asked about instead (a whole utterance), or
        left for the utterance's final text to decide (a fragment): rule and meaning disagree, which is
        what asking is for. Only with the semantic signal and asking on (consent.ask_instead_below)."""
        if decision.denied:
            return Decision(False, decision.language, f"denied: {decision.rule}", unsure=whole)
        if decision.bare or self._semantic is None or self._semantic.doubt_below <= 0:
            return decision
        verdict = self._semantic.judge(text, after_announcement=cues.bot_just_spoke,
                                       parts=self._passages(text, decision.language))
        if not verdict.judged or verdict.probability >= self._semantic.doubt_below:
            return decision
        return Decision(False, decision.language, f"doubted: {decision.rule} p={verdict.probability:.3f}", unsure=whole)

    def screen(self, text: str) -> Screening:
        """The rules' decision in the session language and which tier of the semantic signal would
        then judge the text; for evaluation."""
        decision, named, denied = self._rules_check(text, self._rules[self.session_language], NO_CONTEXT)
        judged = not decision.objection and self._judged_by_meaning(text)
        return Screening(decision, judged and named, judged and not self.names_target(text), denied)

    def names_target(self, text: str, language: str | None = None) -> bool:
        """Whether any clause names the assistant or the recording (no context counted)."""
        return any(any(t.search(clause) for t in rules.targets)
                   for rules in self._rules_for(language) for clause in _clauses(text, rules))

    def _passages(self, text: str, language: str | None) -> list[str]:
        """The passages of a long utterance that name a target, each judged on its own as well: an
        objection said in passing ("…the meds are OK, oh and can you switch off that note-taking
        assistant, and I've been walking the dog…") reads as none when judged with everything around it.
        A shorter utterance is judged whole only: split at its commas, "Relax, don't stop the recording,
        go on." leaves "don't stop the recording", which reads as an order to stop."""
        if len(normalize(text).split()) < PASSAGES_FROM_WORDS:
            return []
        pieces = [piece.strip(" ,;") for piece in _PASSAGE_BREAK.split(text)]
        return [piece for piece in pieces if long_enough_to_judge(piece) and self.names_target(piece, language)]

    def _judged_by_meaning(self, text: str) -> bool:
        """Whether a whole utterance no rule stopped goes to the semantic signal's targeted or
        untargeted tier (shorter ones only to the short tier)."""
        return self.sensitivity == "cautious" and long_enough_to_judge(text)

    def _rules_check(self, text: str, rules: ObjectionRules, cues: Cues) -> tuple[Decision, bool, bool]:
        """The rules' decision; whether a clause names a target once the `not_objection` spans ("I don't
        mind the AI", "assistente social") are cut out; and whether every clause naming one denies
        objecting (`denials`: "I wasn't talking about the AI")."""
        whole = rules.wording.expand(normalize(text))
        for pattern in rules.whole:
            if pattern.fullmatch(whole):
                return Decision(True, rules.language, pattern.pattern, bare=True), False, False
        if cues.answering or cues.answering_unnamed:
            for pattern in rules.refusals:
                if pattern.fullmatch(whole):
                    if cues.answering:
                        return Decision(True, rules.language, f"answer: {pattern.pattern}", bare=True), False, False
                    # "Is that OK with you?" → "No." refuses; "Do you mind?" → "No." accepts: ask.
                    return Decision(False, rules.language, f"ambiguous answer: {pattern.pattern}", unsure=True), False, False
        said = rules.wording.expand(unicodedata.normalize("NFC", text).lower().translate(_APOSTROPHES))  # with its commas
        cautious = self.sensitivity == "cautious"
        patterns = rules.patterns + (rules.cautious_patterns if cautious else ())
        intents = rules.intents + (rules.cautious_intents if cautious else ())
        names_target, denied = False, True
        for clause in _clauses(text, rules):
            # Before the cut-outs, which may hold the very acceptance ("pode ficar" in "tudo bem, pode ficar").
            accepts = any(a.search(clause) for a in rules.acceptances)
            denies = any(d.search(clause) for d in rules.denials)
            for pattern in rules.not_objection:
                clause = pattern.sub(" | ", clause)
            pattern = rules.wording.first_meant(patterns, clause, said)
            if pattern is not None:
                return Decision(True, rules.language, pattern.pattern, denied=denies), False, False
            # With the semantic signal the announcement model judges such moments (check()); the
            # hand-written deictic rules stopped on "quita eso de la mesa" and caught fewer.
            for pattern in rules.deictic_patterns if cues.bot_just_spoke and self._semantic is None else ():
                if pattern.search(clause):
                    return Decision(True, rules.language, f"context: {pattern.pattern}"), False, False
            target = next((t for t in rules.targets if t.search(clause)), None)
            names_target = names_target or target is not None
            if target is not None and not denies and not accepts:
                intent = rules.wording.first_meant(intents, clause, said)
                if intent is not None:
                    return Decision(True, rules.language, f"cue: {target.pattern} + {intent.pattern}"), False, False
                # "I don't object to the AI", "no me opongo a la transcripción": a denial in other words.
                denies = rules.wording.negated(patterns + intents, clause, said)
            if target is not None and not denies:
                denied = False
        return Decision(False, rules.language), names_target, names_target and denied


_CLAUSE_PUNCTUATION = re.compile(r"[.;:!?¿¡]+\s")
_PASSAGE_BREAK = re.compile(r"(?<=[.;:!?,])\s+|\s+[-–—]+\s+")


def _clauses(text: str, rules: ObjectionRules) -> list[str]:
    written = rules.wording.split_answers(rules.wording.expand(unicodedata.normalize("NFC", text).lower()))
    pieces = _CLAUSE_PUNCTUATION.split(written + " ")
    clauses: list[str] = []
    for piece in pieces:
        normalized = rules.wording.expand(normalize(piece))
        clauses += rules.clause_breaks.split(normalized) if rules.clause_breaks else [normalized]
    return [c.strip() for c in clauses if c.strip()]
