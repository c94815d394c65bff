"""Spoken → written (English): how a clinician writes what was said, without changing what it says.

Numbers a clinician writes as digits ("four days ago" → "4 days ago", "120 over 80" → "120/80",
"2 out of 6" → "2/6"), dose units abbreviated ("milligrams" → "mg"), "once a day" → "once daily",
and talk that carries no fact dropped ("you know", "actually", "kind of"). Every change here is one
the evidence check reads back (`bot.notes.paraphrase`: number words, unit names, "daily"), so a
rewritten statement is still checked word by word against the transcript.
"""

from __future__ import annotations

import re

NUMBER_WORDS: dict[str, int] = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}
UNIT_ABBREVIATIONS: dict[str, str] = {
    "milligrams": "mg", "milligram": "mg", "micrograms": "mcg", "microgram": "mcg", "milliliters": "ml",
    "milliliter": "ml", "millilitres": "ml", "millilitre": "ml", "kilograms": "kg", "kilogram": "kg",
}
# A number word is written as digits only where it counts something ("five pounds", "two weeks"):
# "one of them", "no one" and "a couple of" stay as they are.
_COUNTED = (r"(?:minutes?|hours?|days?|nights?|weeks?|months?|years?|times?|pounds?|kilos?|lbs|mg|mcg|ml|kg|"
            r"milligrams?|micrograms?|milliliters?|millilitres?|kilograms?|units? of|"
            r"pills?|tablets?|capsules?|doses?|drinks?|cigarettes?|packs?|cups?|glasses?|beers?|units?|puffs?|"
            r"sessions?|visits?|episodes?|attacks?|panic attacks?|miles?|blocks?|steps?|stairs|flights?|hits?|"
            r"inches?|feet|centimeters?|millimeters?|percent|out of|or \w+|to \w+|-year-old|year-old|degrees?|"
            r"servings?|meals?|children|kids|sons?|daughters?|grandchildren|nights? a week|days? a week)")
_TENS = r"(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
_UNITS = r"(?:one|two|three|four|five|six|seven|eight|nine)"
_NUMBER = re.compile(
    rf"(?i)\b((?:{_UNITS} hundred(?: (?:and )?)?)?(?:{_TENS}(?:[- ]{_UNITS})?|{_UNITS}|ten|eleven|twelve|thirteen|"
    rf"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen)|{_UNITS} hundred)\b(?=[\s-]+{_COUNTED}\b)")
# "kind of" is a hedge except after a determiner ("what kind of pain"), where it is the noun.
_RANGE_END = re.compile(rf"\b(\d+) to ({_TENS}(?:[- ]{_UNITS})?|{_UNITS}|ten|eleven|twelve|thirteen|fourteen|fifteen|"
                        rf"sixteen|seventeen|eighteen|nineteen)\b")
_FILLER_PHRASES = re.compile(
    r"(?i)(?:,\s*)?(?:\b(?:you know|i mean|basically|literally|honestly|actually|like i said|to be honest)\b|"
    r"(?<!what )(?<!this )(?<!that )(?<!the )(?<!a )(?<!any )(?<!some )(?<!which )(?<!same )(?<!other )"
    r"\b(?:kind of|kinda|sort of|sorta)\b)(?:\s*,)?")
_LEADING = re.compile(r"(?i)^(?:(?:well|so|and|but|um|uh|oh|okay|ok|alright|all right|yeah|now|anyway|"
                      r"hey|oh yeah|you see|look|see|then|also)\s*,?\s+)+")


def number_value(text: str) -> int | None:
    """"forty-five" → 45, "ten" → 10, "five hundred" → 500; None for anything else."""
    parts = [p for p in re.split(r"[- ]", text.lower()) if p != "and"]
    if not parts or any(p not in NUMBER_WORDS for p in parts):
        return None
    if len(parts) >= 2 and parts[1] == "hundred" and NUMBER_WORDS[parts[0]] < 10:
        rest = parts[2:]
        return NUMBER_WORDS[parts[0]] * 100 + sum(NUMBER_WORDS[p] for p in rest if p != "hundred")
    return sum(NUMBER_WORDS[p] for p in parts)


def _digits(match: re.Match[str]) -> str:
    value = number_value(match.group(1))
    return str(value) if value is not None else match.group(0)


_REPEATED = re.compile(r"(?i)\b((?:[\w']+\s+){1,4}[\w']+)\s+\1\b")  # "i heard that i heard that" (a restart)


def written(text: str) -> str:
    """`text` as a clinician writes it; what it says is unchanged."""
    text = _REPEATED.sub(r"\1", text)
    text = _FILLER_PHRASES.sub(" ", text)
    text = re.sub(r"(?i)\b(?:go ahead and|went ahead and),?\s+", "", text)
    text = re.sub(r"(?i)\bgonna\b", "going to", text)
    text = re.sub(r"(?i)\bwanna\b", "want to", text)
    text = _NUMBER.sub(_digits, text)
    text = _RANGE_END.sub(lambda m: f"{m.group(1)} to {number_value(m.group(2))}", text)  # "from 1 to ten"
    text = re.sub(r"\b(\d+) out of (\d+)\b", r"\1/\2", text)
    text = re.sub(r"\b(\d{2,3}) over (\d{2,3})\b", r"\1/\2", text)
    text = re.sub(r"(?i)\b(\d[\d,.]*)\s*(" + "|".join(UNIT_ABBREVIATIONS) + r")\b",
                  lambda m: f"{m.group(1)} {UNIT_ABBREVIATIONS[m.group(2).lower()]}", text)
    text = re.sub(r"(?i)\b(once|twice|three times|four times|\d+ times) (?:a|per|each) day\b", r"\1 daily", text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", " ".join(text.split()))
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    return text.strip(" ,;")


def without_lead(text: str) -> str:
    """Drop the discourse words a spoken sentence opens with ("so, well, okay, and …")."""
    return _LEADING.sub("", text.strip())
