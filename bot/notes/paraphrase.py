"""When two words say the same thing, for the evidence check: word forms and a few clinical concepts.

A rewrite or a model changes word forms ("I stopped drinking" → "no longer drinks", "tengo" →
"tiene") and a clinician names what a client describes ("thoughts of hurting myself" →
"suicidal thoughts"). Each word gets *keys*: its light stem (English or Spanish), the Spanish
third-person form of a first-person verb, and the concepts of `CONCEPTS` it is part of. Two words
match when their keys meet. The concept list is short on purpose: every entry lets a statement
use a word nobody said, so only names a clinician uses for what clients say belong in it.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.notes.condense import _ES_REFLEXIVE, _ES_VERBS  # first-person → third-person verb forms

_ES_THIRD = {**_ES_VERBS, **_ES_REFLEXIVE}
_SELF = ("myself", "themself", "themselves", "himself", "herself", "yourself")
_POSSESSIVE = ("my", "their", "his", "her", "your")

# concept → phrases (words separated by spaces; {self} and {poss} stand for any reflexive / possessive)
CONCEPTS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "self_harm": ("suicidal", "suicide", "kill {self}", "hurt {self}", "harm {self}", "injure {self}",
                      "cut {self}", "self harm", "end {poss} life", "take {poss} life"),
        "sleep": ("sleep", "slept", "insomnia", "asleep"),
        "anxiety": ("anxious", "anxiety"),
        "depression": ("depressed", "depression", "depressive"),
        "alcohol": ("alcohol", "drink", "drank", "booze"),
    },
    "es": {
        "self_harm": ("suicida", "suicidas", "suicidio", "matarme", "matarse", "hacerme daño", "hacerse daño",
                      "lastimarme", "lastimarse", "autolesión", "autolesionarme", "autolesionarse",
                      "quitarme la vida", "quitarse la vida"),
        "sleep": ("dormir", "duermo", "duerme", "dormí", "durmió", "insomnio"),
        "anxiety": ("ansiedad", "ansioso", "ansiosa"),
        "depression": ("deprimido", "deprimida", "depresión"),
        "alcohol": ("alcohol", "beber", "bebo", "bebe", "bebí", "bebió"),
    },
}


def _double(stem: str) -> str:
    return stem[:-1] if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouls" else stem


def stem_en(word: str) -> str:
    """sleeping, sleeps → sleep; stopped → stop; tries, tried → try; hopes, hoped → hop (irregular stay)."""
    w = word.removesuffix("'s")
    if len(w) > 4 and w.endswith(("ies", "ied")):
        w = w[:-3] + "y"
    elif len(w) > 5 and w.endswith("ing"):
        w = _double(w[:-3])
    elif len(w) > 4 and w.endswith("ed"):
        w = _double(w[:-2])
    elif len(w) > 4 and w.endswith(("ches", "shes", "sses", "xes", "zes")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    return w[:-1] if len(w) > 3 and w.endswith("e") else w


_ES_ENDINGS = ("iendo", "ando", "aron", "ieron", "amos", "emos", "imos", "aba", "ía", "ar", "er", "ir", "as", "es",
               "os", "an", "en", "a", "e", "o", "ó", "í", "é", "s")


def stem_es(word: str) -> str:
    w = _ES_THIRD.get(word, word)
    for ending in _ES_ENDINGS:
        if w.endswith(ending) and len(w) - len(ending) >= 3:
            return w[: -len(ending)]
    return w


def word_keys(word: str, language: str) -> set[str]:
    if language == "es":
        return {word, _ES_THIRD.get(word, word), stem_es(word)}
    return {word, stem_en(word)}


def _phrases(language: str) -> list[tuple[str, tuple[str, ...]]]:
    out: list[tuple[str, tuple[str, ...]]] = []
    for concept, phrases in CONCEPTS.get(language, CONCEPTS["en"]).items():
        for phrase in phrases:
            for self_word in _SELF if "{self}" in phrase else ("",):
                for possessive in _POSSESSIVE if "{poss}" in phrase else ("",):
                    out.append((concept, tuple(phrase.format(self=self_word, poss=possessive).split())))
    return out


def keys(sequence: Sequence[str], language: str) -> list[set[str]]:
    """Per word of `sequence`: its keys, with `@concept` for every concept phrase it is part of."""
    result = [word_keys(w, language) for w in sequence]
    stems = [stem_en(w) if language != "es" else stem_es(w) for w in sequence]
    for concept, phrase in _phrases(language):
        wanted = [stem_en(w) if language != "es" else stem_es(w) for w in phrase]
        for i in range(len(sequence) - len(phrase) + 1):
            if all(stems[i + j] == wanted[j] or sequence[i + j] == phrase[j] for j in range(len(phrase))):
                for j in range(len(phrase)):
                    result[i + j].add("@" + concept)
    return result
