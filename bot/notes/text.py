"""Text tidying for notes: fillers and stutters out, sentences, words, content words, questions."""

from __future__ import annotations

import re
import unicodedata

_FILLERS = re.compile(r"(?i)(?<![\w'-])(?<!the )(?<!an )(?:um+|uh+|uh-huh|mm+-?hmm+|hmm+|erm|er|ah|eh|mhm)(?![\w'-])[,.]?")
_STUTTER = re.compile(r"(?<![\w'])\w+-(?=\s)")  # "le- are you" → "are you"
_REPEAT = re.compile(r"(?i)\b(\w+(?:'\w+)?)(?:\s*,?\s+\1\b)+")  # "i , i" → "i"
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?%)])")
_PTB_JOIN = {"gon na": "gonna", "wan na": "wanna", "got ta": "gotta"}  # tokenised transcripts (ACI-BENCH)
_PTB = re.compile(r"(?i)\b(?:gon na|wan na|got ta)\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("""a about after again all also am an and any are as at be because been before being but by
        can could did do does doing don't done for from get got gonna had has have having he her here him his how
        i i'd i'll i'm i've if in into is isn't it it's its just kind know let let's like lot me mean more most much
        my no not now of oh okay ok on one or other our out over really right so some sort still such sure than
        thank thanks that that's the their them then there these they thing things think this those through to too
        um uh up us very want was way we we're well were what when where which while who why will with would
        yeah yes yep you you're your all alright great good fine glad hear see go going mhm hmm nice""".split()),
    "es": frozenset("""a al algo así bien bueno como con cuando de del desde donde el ella en entonces era es esa
        ese eso esta está están este esto estoy fue ha hay la las le les lo los me mi muy más nada ni no nos o
        os para pero poco por pues qué que se sea ser si sí sin sobre son su sus también te tengo ti tu tus un una
        uno unos y ya yo vale vale claro ajá eh este mmm gracias hola vale sabes digamos o sea verdad""".split()),
}


def tidy(text: str) -> str:
    """Clean verbatim: drop fillers, stutters and immediate repetitions; fix spacing before punctuation."""
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'")
    text = _PTB.sub(lambda m: _PTB_JOIN[m.group(0).lower()], text)
    text = re.sub(r"(?i)(\w) (n't)\b", r"\1\2", text)
    text = _FILLERS.sub(" ", text)
    text = _STUTTER.sub(" ", text)
    text = _REPEAT.sub(r"\1", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(text.split()))
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"([.!?])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"^[\s,;:.]+", "", text)
    return re.sub(r"\s*,\s*([.!?])", r"\1", text).strip()


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip(" .,!?")]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_words(text: str, language: str) -> list[str]:
    stop = STOPWORDS.get(language, STOPWORDS["en"])
    return [w for w in words(text) if w not in stop and (len(w) > 1 or w.isdigit())]


def is_question(sentence: str) -> bool:
    return sentence.rstrip().endswith("?") or sentence.lstrip().startswith("¿")
