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
        "daily": ("daily", "a day", "per day", "every day", "each day"),  # "once a day" → "once daily"
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


# Written forms a note uses for what was said (bot/notes/written.py): digits for number words, dose
# units abbreviated, and the spoken contractions expanded.
_UNIT_KEYS = {"mg": "@mg", "milligram": "@mg", "milligrams": "@mg", "mcg": "@mcg", "microgram": "@mcg",
              "micrograms": "@mcg", "ml": "@ml", "milliliter": "@ml", "milliliters": "@ml", "millilitre": "@ml",
              "millilitres": "@ml", "kg": "@kg", "kilogram": "@kg", "kilograms": "@kg"}
_ALIASES = {"gonna": ("going", "to"), "wanna": ("want", "to"), "gotta": ("got", "to"), "kinda": ("kind", "of")}
_NEGATED_FORMS = {"won't": "will", "can't": "can", "shan't": "shall", "ain't": "is"}
_IRREGULAR = {"took": "take", "taken": "take", "felt": "feel", "went": "go", "gone": "go", "had": "have",
              "has": "have", "got": "get", "gotten": "get", "did": "do", "done": "do", "does": "do", "made": "make",
              "slept": "sleep", "woke": "wake", "came": "come", "left": "leave", "told": "tell", "said": "say",
              "thought": "think", "found": "find", "kept": "keep", "lost": "lose", "gave": "give", "given": "give",
              "began": "begin", "ran": "run", "ate": "eat", "eaten": "eat", "drank": "drink", "fell": "fall",
              "fallen": "fall", "heard": "hear", "knew": "know", "known": "know", "saw": "see", "seen": "see",
              "wrote": "write", "written": "write", "broke": "break", "broken": "break", "hurt": "hurt",
              "bought": "buy", "brought": "bring", "spent": "spend", "stood": "stand", "sat": "sit", "met": "meet",
              "paid": "pay", "is": "be", "am": "be", "are": "be", "was": "be", "were": "be", "been": "be"}


def number_keys(sequence: Sequence[str]) -> list[set[str]]:
    """Per word: "#n" for a number said as digits or as words ("four", "4"; "forty five", "45"; "five hundred",
    "500"). A number said in words is read whole: "forty five" is 45, never 40."""
    from bot.notes.written import NUMBER_WORDS, number_value  # noqa: PLC0415 - written imports nothing from here

    out: list[set[str]] = [set() for _ in sequence]
    i = 0
    while i < len(sequence):
        word = sequence[i]
        if word.isdigit():
            out[i].add(f"#{int(word)}")
            i += 1
            continue
        if word not in NUMBER_WORDS:
            i += 1
            continue
        end = i + 1  # the longest run of number words (with "and" after "hundred") that reads as one number
        while end < len(sequence) and (sequence[end] in NUMBER_WORDS or (
                sequence[end] == "and" and sequence[end - 1] == "hundred" and end + 1 < len(sequence)
                and sequence[end + 1] in NUMBER_WORDS)):
            end += 1
        while end > i + 1 and number_value(" ".join(sequence[i:end])) is None:
            end -= 1
        value = number_value(" ".join(sequence[i:end]))
        if value is not None and (end - i == 1 or _one_number(sequence[i:end])):
            for j in range(i, end):
                out[j].add(f"#{value}")
        else:
            out[i].add(f"#{NUMBER_WORDS[word]}")
            end = i + 1
        i = end
    return out


def _one_number(words: Sequence[str]) -> bool:
    """"forty five", "five hundred twenty": one number; "two three" (a list) is not."""
    from bot.notes.written import NUMBER_WORDS  # noqa: PLC0415

    values = [NUMBER_WORDS[w] for w in words if w != "and"]
    if "hundred" in words:
        return values[0] < 10 and words[1] == "hundred"
    return len(values) == 2 and values[0] >= 20 and values[0] % 10 == 0 and values[1] < 10


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
    out = {word, stem_en(word)}
    if word.endswith("n't"):  # "didn't" said, "did not" written
        base = _NEGATED_FORMS.get(word, word[:-3])
        out |= {base, stem_en(base)}
    if word in _IRREGULAR:  # "took" said, "taking" written
        out.add(stem_en(_IRREGULAR[word]))
    out |= set(_ALIASES.get(word, ()))
    if word in _UNIT_KEYS:
        out.add(_UNIT_KEYS[word])
    return out


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
    if language != "es":
        for i, numbers in enumerate(number_keys(sequence)):
            result[i] |= numbers
    stems = [stem_en(w) if language != "es" else stem_es(w) for w in sequence]
    for concept, phrase in _phrases(language):
        wanted = [stem_en(w) if language != "es" else stem_es(w) for w in phrase]
        for i in range(len(sequence) - len(phrase) + 1):
            if all(stems[i + j] == wanted[j] or sequence[i + j] == phrase[j] for j in range(len(phrase))):
                for j in range(len(phrase)):
                    result[i + j].add("@" + concept)
    return result
