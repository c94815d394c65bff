"""Person shift (English): what a speaker said about the client, in the note's third person.

The client's "I've been sleeping better" → "the client has been sleeping better"; the clinician's
"your blood pressure is fine" → "his blood pressure is fine". The first mention in a statement is
the noun ("the client", or "the patient" where the transcript calls them that), later ones the
pronoun: he or she only where the transcript says so ("a 57-year-old male", "Mr. Smith"), they
otherwise. Verbs follow their new subject ("I have" → "has", "you don't" → "does not").

Where a shift cannot be made faithfully — the speaker also speaks for a group ("we", "us"), or
addresses someone whose place in the note is unclear — `shift` returns None and the generator
keeps the sentence in another form. Nothing here adds a fact: only pronouns and verb agreement
change, which the evidence check (`bot.notes.evidence`) knows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Adverbs that may sit between a subject and its verb ("I really like it").
ADVERBS = frozenset("""really just also never still always usually sometimes often only even finally definitely
    already mostly barely hardly probably recently currently normally generally constantly occasionally rarely
    typically mainly certainly obviously literally basically actually kinda honestly seriously pretty sort kind
    both all""".split())
IRREGULAR_PAST = frozenset("""went had got felt did took saw made slept woke came left told said thought tried
    found kept lost gave began started ran ate drank fell heard knew met paid put quit read sat spent stood stopped
    became brought bought caught chose drove forgot forgave hid hit hurt let meant rode rang rose sold sent shook
    shut sang sank spoke stole struck swam taught tore threw understood wore won wrote broke woke bit built
    dealt dug fed fought fled flew froze grew hung held laid led lent lit sought shot slid split spread sprang
    stuck stung swept swung tore wept wound been done gone seen taken given eaten fallen driven written broken
    gotten forgotten known shown thrown""".split())
# A word after "I" that is not a verb of the sentence ("I guess", "I mean" are talk, not facts).
_NOT_VERBS = frozenset("""a an the to and or but my your this that it in on at of for with guess mean suppose
    think believe hope wish wonder bet reckon figure feel""".split()) - {"feel"}
_SINGULAR = {"am": "is", "'m": "is", "are": "is", "'re": "is", "have": "has", "'ve": "has", "do": "does",
             "don't": "does not", "haven't": "has not", "aren't": "is not", "were": "was", "weren't": "was not",
             "wanna": "wants to", "gotta": "has to", "go": "goes", "gonna": "is going to"}
_PLURAL = {"am": "are", "'m": "are", "is": "are", "was": "were", "wasn't": "were not", "gonna": "are going to",
           "has": "have", "hasn't": "have not", "does": "do", "doesn't": "do not", "wanna": "want to",
           "gotta": "have to", "'ve": "have", "'re": "are", "'ll": "will", "'d": "would", "don't": "do not",
           "haven't": "have not", "aren't": "are not", "weren't": "were not"}
_LY_VERBS = frozenset({"apply", "reply", "supply", "rely", "multiply", "bully", "tally", "rally"})
_UNCHANGED = frozenset("""was wasn't did didn't can can't cannot could couldn't will won't would wouldn't should
    shouldn't might may must had hadn't 'll 'd""".split())
_NOT_AFTER_I = frozenset({"are", "is", "has", "does", "were", "'re", "'s"})
_AUXILIARIES = frozenset("""do don't did didn't does have haven't had are aren't were weren't was can can't could
    couldn't will won't would wouldn't should shouldn't might may must need needs""".split())
_SUBJECT_BEFORE = frozenset("""and but so that if when because since or then as until while where which once after
    before though although whether unless""".split())
_TOKEN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|[A-Za-z0-9]+(?:(?:['\u2019]|-(?=[A-Za-z0-9]))[A-Za-z0-9]+)*|[^\sA-Za-z0-9]")


@dataclass(frozen=True)
class Referent:
    """How the note names the client: noun for the first mention, pronouns after."""

    noun: str = "the client"
    subject: str = "they"
    object: str = "them"
    possessive: str = "their"
    reflexive: str = "themself"
    absolute: str = "theirs"

    @property
    def plural(self) -> bool:
        return self.subject == "they"


CLINICIAN = Referent(noun="the clinician", subject="the clinician", object="the clinician",
                     possessive="the clinician's", reflexive="themself", absolute="the clinician's")
# Verbs after the client's "you" that can only mean the clinician ("you said", "you prescribed me").
_CLINICIAN_DID = frozenset("""said told mentioned recommended prescribed gave wanted asked suggested ordered
    explained referred""".split())

REFERENTS = {
    None: Referent(),
    "male": Referent(subject="he", object="him", possessive="his", reflexive="himself", absolute="his"),
    "female": Referent(subject="she", object="her", possessive="her", reflexive="herself", absolute="hers"),
}
_MALE = re.compile(r"(?i)\b(?:\d+[- ]year[- ]old (?:male|man|gentleman|boy|gentlemen)|mr\.?\s+[a-z]+)\b")
_FEMALE = re.compile(r"(?i)\b(?:\d+[- ]year[- ]old (?:female|woman|lady|girl)|(?:mrs|ms|miss)\.?\s+[a-z]+)\b")


def referent_for(noun: str, clinician_texts: Sequence[str]) -> Referent:
    """The client's referent: he or she only where the clinician said which (and never both), else they."""
    said = " ".join(clinician_texts)
    male, female = bool(_MALE.search(said)), bool(_FEMALE.search(said))
    base = REFERENTS["male" if male and not female else "female" if female and not male else None]
    return Referent(noun, base.subject, base.object, base.possessive, base.reflexive, base.absolute)


def third_person(verb: str) -> str | None:
    """'think' → 'thinks', 'try' → 'tries'; None where the word does not look like a base-form verb."""
    low = verb.lower()
    if not low.isalpha() or len(low) < 2 or low.endswith(("ed", "ing")) or low in IRREGULAR_PAST or low in _NOT_VERBS:
        return None
    if low in _SINGULAR:
        return _SINGULAR[low]
    if low.endswith(("s", "sh", "ch", "x", "z", "o")):
        return low + "es"
    if low.endswith("y") and low[-2] not in "aeiou":
        return low[:-1] + "ies"
    return low + "s"


def tokenize(text: str) -> list[str]:
    """Words (contractions kept whole) and punctuation marks."""
    return _TOKEN.findall(text.replace("\u2019", "'"))


def detokenize(tokens: Sequence[str]) -> str:
    text = " ".join(tokens)
    text = re.sub(r"\s+([,.;:!?%)])", r"\1", text)
    text = re.sub(r"([(])\s+", r"\1", text)
    text = re.sub(r"(\d)\s*/\s*(?=\d)", r"\1/", text)
    return text


class _Shift:
    """One sentence's shift; `mentioned` carries over so a statement names the client once."""

    def __init__(self, referent: Referent, mentioned: bool) -> None:
        self.referent = referent
        self.mentioned = mentioned

    def subject(self) -> tuple[list[str], bool]:
        """The subject words and whether their verb is plural."""
        if self.mentioned:
            return [self.referent.subject], self.referent.plural
        self.mentioned = True
        return self.referent.noun.split(), False

    def possessive(self) -> list[str]:
        if self.mentioned:
            return [self.referent.possessive]
        self.mentioned = True
        return [*self.referent.noun.split()[:-1], self.referent.noun.split()[-1] + "'s"]

    def verb(self, tokens: list[str], start: int, plural: bool) -> tuple[list[str], int] | None:
        """The verb group from `start` agreeing with a new third-person subject, and where it ends."""
        out: list[str] = []
        i = start
        while i < len(tokens) and (tokens[i].lower() in ADVERBS or (tokens[i].lower().endswith("ly")
                                                                 and len(tokens[i]) > 4 and tokens[i].isalpha()
                                                                 and tokens[i].lower() not in _LY_VERBS)):
            out.append(tokens[i].lower())
            i += 1
        if i >= len(tokens):
            return None
        word = tokens[i].lower()
        if plural:
            return [*out, *_PLURAL.get(word, word).split()], i + 1
        if word in _SINGULAR:
            return [*out, *_SINGULAR[word].split()], i + 1
        if word in _UNCHANGED or word in IRREGULAR_PAST or (word.endswith("ed") and len(word) > 3):
            return [*out, {"'ll": "will", "'d": "would"}.get(word, word)], i + 1
        if word in ("is", "has", "does", "doesn't", "isn't", "hasn't"):
            return [*out, word], i + 1
        conjugated = third_person(word)
        return ([*out, conjugated], i + 1) if conjugated else None


_FIRST_SINGULAR = frozenset({"i", "i'm", "i've", "i'd", "i'll", "me", "my", "mine", "myself"})
_FIRST_PLURAL = frozenset({"we", "we're", "we've", "we'd", "we'll", "us", "our", "ours", "ourselves"})
_SECOND = frozenset({"you", "you're", "you've", "you'd", "you'll", "your", "yours", "yourself", "yourselves", "ya"})


def shift(sentence: str, speaker: str, referent: Referent, mentioned: bool = False) -> tuple[str, bool] | None:
    """`sentence` with the client in the third person, and whether the client has been named by its end.

    `speaker`: "client" (their I/me/my is the client; any "you" or "we" fails) or "clinician" (their
    you/your is the client; their own "I" fails, "we" — the care team — stays)."""
    tokens = tokenize(sentence)
    state = _Shift(referent, mentioned)
    clinician = _Shift(CLINICIAN, True)  # the clinician is named, never a pronoun: "they" could be anyone
    mine = _FIRST_SINGULAR if speaker == "client" else _SECOND
    foreign = (_SECOND | _FIRST_PLURAL) if speaker == "client" else _FIRST_SINGULAR
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        low = token.lower()
        following = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
        if low == "i" and following in _NOT_AFTER_I:
            return None  # "i are you still taking …": a restart, not a sentence to rewrite
        if speaker == "client" and low == "you" and following in _CLINICIAN_DID:  # "you said", "you prescribed"
            out += CLINICIAN.noun.split()
            i += 1
            continue
        if speaker == "clinician" and low in ("i", "i'm", "i've", "i'd", "i'll"):  # the clinician's own "I"
            words = CLINICIAN.noun.split()
            contraction = low.split("'")[1] if "'" in low else None
            verb = clinician.verb(["'" + contraction, *tokens[i + 1:]], 0, False) if contraction else \
                clinician.verb(tokens, i + 1, False)
            if verb is None:
                return None
            out += words + verb[0]
            i = i + verb[1] if contraction else verb[1]
            continue
        if speaker == "clinician" and low in ("me", "my"):
            out += CLINICIAN.noun.split() if low == "me" else ["the", "clinician's"]
            i += 1
            continue
        if low in foreign:
            return None
        if low not in mine:
            out.append(token)
            i += 1
            continue
        previous = out[-1].lower() if out else ""
        following = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
        as_subject = low in ("i", "i'm", "i've", "i'd", "i'll", "you're", "you've", "you'd", "you'll") or (
            low == "you" and (not previous or previous in _SUBJECT_BEFORE or not previous.isalnum()
                              or following in _AUXILIARIES))
        if low in ("my", "your"):
            out += state.possessive()
        elif low in ("myself", "yourself"):
            out.append(referent.reflexive)
            state.mentioned = True
        elif low in ("mine", "yours"):
            out.append(referent.absolute)
        elif not as_subject:  # me, or "you" after a verb or preposition
            out += referent.noun.split() if not state.mentioned else [referent.object]
            state.mentioned = True
        else:
            words, plural = state.subject()
            contraction = low.split("'")[1] if "'" in low else None
            if contraction:
                verb = state.verb(["'" + contraction, *tokens[i + 1:]], 0, plural)
                if verb is None:
                    return None
                out += words + verb[0]
                i = i + verb[1]
                continue
            verb = state.verb(tokens, i + 1, plural)
            if verb is None:
                return None
            out += words + verb[0]
            i = verb[1]
            continue
        i += 1
    return detokenize(out), state.mentioned
