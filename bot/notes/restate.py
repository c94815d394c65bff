"""Clinician-style statements (English): one transcript unit → one sentence a clinician would write.

Third person, the client named once ("The client has been sleeping better."), numbers and doses
as written ("15 mg once daily"), fillers out, and the frame a note uses for what the sentence
is: a plan ("Refer the client to group therapy."), advice ("The client is advised to keep a
thought record."), the clinician's impression ("Impression: the client is making progress."), an
answer ("Any trouble sleeping?" — "No." → "The client denies trouble sleeping."). A sentence no
rule can restate faithfully gets None, and the generator quotes it instead.

Nothing is added: every rule keeps the sentence's own words and changes only person, verb
agreement, written forms and the frame, which the evidence check (`bot.notes.evidence`) knows;
the generator still checks every restated sentence against the segments it cites.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.notes.person import Referent, shift, third_person
from bot.notes.phrases import PHRASES
from bot.notes.polarity import is_bare_negative, tokens
from bot.notes.written import without_lead, written

_FRAMES = PHRASES["en"]  # the frames' words are the note's scaffolding for the evidence check, too
_YES = frozenset("""yes yeah yep yup yea correct right sure absolutely definitely uh-huh mm-hmm i have do am did
    it does is was a little bit some sometimes""".split())
_YES_OPENERS = frozenset({"yes", "yeah", "yep", "yup", "yea", "correct", "uh-huh", "mm-hmm"})

# Questions whose yes/no answer becomes "reports X" / "denies X".
_SYMPTOM_QUESTION = re.compile(
    r"(?i)^(?:do you have|have you had|have you been having|are you having|did you have|have you noticed|"
    r"have you experienced|have you felt|are you experiencing|did you notice|did you experience|have you seen|"
    r"is there|are there|was there|were there|you have|you've had|you had|any other|any)\s+(?:any\s+)?(.+)$")
# A bare list of symptoms asked about ("fever, chills?", "nausea or vomiting?"): no verb, no question word.
_LIST_QUESTION = re.compile(r"(?i)^(?!(?:do|does|did|are|is|was|were|can|could|would|will|have|has|how|what|when|where|"
                            r"why|which|who|about|like|so|and|or|any|anything|that|this|it|you|your)\b)"
                            r"[a-z' -]+(?:,\s*[a-z' -]+|\s+or\s+[a-z' -]+)+$")
_BE_QUESTION = re.compile(r"(?i)^(?:are you|you're|you are)\s+(.+)$")
_DO_QUESTION = re.compile(r"(?i)^(?:do you|you)\s+([a-z]+)\b\s*(.*)$")
_HAVE_QUESTION = re.compile(r"(?i)^(?:have you|you've)\s+([a-z]+)\b\s*(.*)$")
_DID_QUESTION = re.compile(r"(?i)^did you\s+([a-z]+)\b\s*(.*)$")
_QUESTION_LEAD = re.compile(r"(?i)^(?:(?:and|so|okay|ok|now|also|but|or|then|alright|all right|um|uh)\s*,?\s+)+")
_TRAILING_TALK = re.compile(r"(?i)[,\s]+(?:like we (?:had )?(?:talked|discussed|spoke) about|as we discussed|"
                            r"or anything like that|or anything|or something like that|or what|at all|right|correct|"
                            r"okay|or no|or not)\s*$")

_PLAN = re.compile(
    r"(?i)^(?:i|we)\s*(?:'ll|will|(?:'m|am|'re|are)\s+(?:also\s+|just\s+)*(?:gonna|going to)|(?:'d|would)\s+(?:also\s+)?"
    r"like to|(?:also\s+|just\s+)*(?:want to|wanna|need to|should|plan to)|(?<=we)\s*can|let's|let us)\s+"
    r"(?:(?:also|just|go ahead and|then|definitely|probably|actually)\s+)*(.+)$|^(?:let's|let us)\s+"
    r"(?:(?:also|just|go ahead and|then)\s+)*(.+)$")
# What a clinician says to steer the conversation, not what was done or decided.
_STEERING = re.compile(r"(?i)^(?:talk|go over|take a (?:quick )?look|look at|review|discuss|start|get started|move on|"
                       r"chat|switch|jump|focus|check in|touch base|pull up)\b")
_ADVICE = re.compile(
    r"(?i)^(?:i want you to|i'd like you to|i would like you to|i need you to|i'd like for you to|i want you to go ahead and|"
    r"you should|you need to|you'll need to|you have to|you must|you want to|i recommend that you|i recommend you|"
    r"i'd recommend that you|i'd recommend you|i suggest that you|i suggest you|i'd suggest you|i encourage you to|"
    r"make sure that you|make sure you|make sure to|try to|try and|please|go ahead and|i'm going to have you|"
    r"i'll have you|i'm gonna have you|we'll have you|we're going to have you|we're gonna have you)\s+(.+)$")
_IMPRESSION = re.compile(
    r"(?i)^(?:i think|i believe|i suspect|i feel like|i feel that|it sounds like|it seems like|it seems that|"
    r"it looks like|it appears that|my impression is|my assessment is|my diagnosis is|i'm glad that|i'm glad)"
    r"(?:\s+that)?\s+(.+)$")
_CONCERN = re.compile(r"(?i)^(?:i'm|i am) (?:a (?:little|bit) )?(?:concerned|worried)(?:\s+(?:that|about))?\s+(.+)$")
_KNOWN = re.compile(
    r"(?i)^(?:i know|i see|i noticed|i notice|i remember|i understand|i saw|i read|i heard|looking at|i reviewed|"
    r"it says|you said|you mentioned|you told me|you reported|you stated|you noted)(?:\s+here)?(?:\s+that)?\s+"
    r"(.+)$")
_FOUND = re.compile(r"(?i)\bi (?:do |also |can )?(?:appreciate|hear|feel|palpate|note|notice|find|see)\b\s*(?:that\s+)?")
_ASSISTANT = re.compile(r"(?i)^(?:(?:so|okay|and|now|all right|alright),?\s+)*hey,?\s+[a-z]+[,.]?\s+(.+)$")  # "hey dragon, order …": talk to a voice assistant
_ASSISTANT_CHROME = re.compile(r"(?i)^(?:show me|pull up|open|finalize|go to|bring up|display|save|sign)\b")


@dataclass(frozen=True)
class Restated:
    text: str
    mentioned: bool  # the client was named in it (later statements may use the pronoun)


_QUESTION_START = re.compile(r"(?i)^(?:do|does|did|are|is|was|were|can|could|would|will|have|has|should|how|what|"
                             r"when|where|why|which|who)\s+(?:you|i|we|it|they|there|that|this)\b")
_OPEN_SUBJECT = re.compile(r"(?i)^(?:been|feeling|doing|having|getting|taking|trying|going|working|sleeping)\b")
_TRAILING_ASIDE = re.compile(r"(?i)(?:[,\s]+(?:yeah|okay|ok|right|you know|so|too|though|i guess|i think|"
                             r"or whatever|and stuff|and everything|or anything|or something))+\s*$")
_CLAUSES = re.compile(r"(?i)\s*;\s+|,?\s+(?:and|but|so|because|then|and then|and so)\s+(?=(?:i|i'm|i've|i'd|i'll|we|"
                      r"we're|we'll|we've|you|you're|you've|let's|let us)\b)")
_PREFIX = re.compile(r"(?i)^(.{3,80}?),\s+((?:i|i'm|i'd|i'll|we|we're|we'll|let's|let us|you|you're|please)\b.+)$")
_VOCATIVE = re.compile(r"(?i)^(?!so\b|okay\b|now\b|well\b|and\b|but\b|yes\b|no\b)[a-z]+,\s+(?=you\b|your\b)")  # "roger, you …"
_NEGATIVE_FINDING = re.compile(r"(?i)\bi (?:don't|do not|didn't|did not|can't|cannot) (?:see|appreciate|hear|feel|"
                               r"notice|find|palpate)\s+(?:any\s+)?")


def _sentence(text: str) -> str:
    text = re.sub(r"[\s-]+$", "", text.strip(" ,;:"))
    text = re.sub(r"[.!?]+$", "", text).strip(" ,;:-")
    return text[:1].upper() + text[1:] + "." if text else ""


def _clean(sentence: str) -> str:
    text = written(without_lead(written(sentence)))
    text = re.sub(r"\s*-+\s*$", "", text.rstrip(" .!;,")).rstrip(" .!;,")
    return _TRAILING_ASIDE.sub("", text).rstrip(" .!;,")


def _inner(text: str) -> str:
    """A sentence's opening capital dropped where the sentence goes inside a frame ("reports Work has …"),
    except in an acronym or "I"."""
    first = text.split(" ", 1)[0]
    if first == "I" or first.startswith("I'") or sum(c.isupper() for c in first) > 1:
        return text
    return text[:1].lower() + text[1:]


def _shift_rest(rest: str, speaker: str, referent: Referent, mentioned: bool = False) -> str | None:
    shifted = shift(_inner(rest), speaker, referent, mentioned=mentioned)
    return shifted[0] if shifted else None


def answer_polarity(answer: str) -> bool | None:
    """True for a plain yes, False for a plain no (as the evidence check reads one: `is_bare_negative`),
    None for anything else (it says more than yes or no)."""
    words = [w for w in re.findall(r"[a-z'-]+", answer.lower()) if w not in ("uh", "um", "oh", "well", "so")]
    if not words:
        return None
    clauses = [tokens(part) for part in answer.split(",") if part.strip()]
    if clauses and all(is_bare_negative(c) for c in clauses):
        return False
    if (words[0] in _YES_OPENERS or words[:2] in (["i", "have"], ["i", "do"], ["i", "am"], ["i", "did"])) \
            and all(w in _YES for w in words):
        return True
    return None


def restate_answer(question: str, answer: str, referent: Referent) -> Restated | None:
    """A yes/no answer with its question as one statement: "Any chest pain?" — "No." → denies chest pain."""
    yes = answer_polarity(answer)
    if yes is None:
        return None
    q = _QUESTION_LEAD.sub("", written(without_lead(question)).rstrip(" ?"))
    q = _TRAILING_TALK.sub("", _TRAILING_TALK.sub("", q))
    noun = referent.noun
    match = _SYMPTOM_QUESTION.match(q)
    if match:
        what = _shift_rest(match.group(1), "clinician", referent, mentioned=True)
        frame = _FRAMES["frame_reports" if yes else "frame_denies"]
        return Restated(_sentence(frame.format(noun=noun, text=what)), True) if what else None
    if not yes and re.match(r"(?i)^no\s+\w", q):  # "no other symptoms since then?" — "No."
        what = _shift_rest(q[3:], "clinician", referent, mentioned=True)
        return Restated(_sentence(_FRAMES["frame_denies"].format(noun=noun, text=what)), True) if what else None
    if not yes and _LIST_QUESTION.match(q):  # "nausea, vomiting, diarrhea?" — "No."
        what = _shift_rest(q, "clinician", referent, mentioned=True)
        return Restated(_sentence(_FRAMES["frame_denies"].format(noun=noun, text=what)), True) if what else None
    match = _BE_QUESTION.match(q)
    if match:
        what = _shift_rest(match.group(1), "clinician", referent, mentioned=True)
        return Restated(_sentence(f"{noun} is {'' if yes else 'not '}{what}"), True) if what else None
    match = _HAVE_QUESTION.match(q)
    if match and (match.group(1).lower().endswith(("ed", "en")) or match.group(1).lower() in ("been", "had", "got")):
        what = _shift_rest(f"{match.group(1)} {match.group(2)}", "clinician", referent, mentioned=True)
        return Restated(_sentence(f"{noun} has {'' if yes else 'not '}{what}"), True) if what else None
    match = _DID_QUESTION.match(q)
    if match and match.group(1).isalpha():
        what = _shift_rest(f"{match.group(1)} {match.group(2)}", "clinician", referent, mentioned=True)
        return Restated(_sentence(f"{noun} did {'' if yes else 'not '}{what}"), True) if what else None
    match = _DO_QUESTION.match(q)
    if match and third_person(match.group(1)):
        verb = match.group(1).lower()
        rest = _shift_rest(match.group(2), "clinician", referent, mentioned=True) if match.group(2) else ""
        if rest is None:
            return None
        said = f"{third_person(verb)} {rest}" if yes else f"does not {verb} {rest}"
        return Restated(_sentence(f"{noun} {said}"), True)
    return None


def _client_clause(s: str, referent: Referent) -> Restated | None:
    # an opening yes or no answers something else; "no" only where a clause of its own follows ("no, I …"),
    # never "no shortness of breath"
    s = re.sub(r"(?i)^(?:yes|yeah|yep|yup|oh|sure|right|correct)\b\s*,?\s*(?=\w)", "", s)
    s = re.sub(r"(?i)^(?:no|nope)(?:\s*,\s*|\s+(?=(?:i|i'm|i've|i'd|it|it's|that|that's|we|they|my|the)\b))", "", s)
    if _OPEN_SUBJECT.match(s):  # "been taking my medications": the speaker left out "I have"
        s = ("i've " if s.lower().startswith("been") else "i'm ") + _inner(s)
    if not re.search(r"[a-z0-9]", s, re.I) or _QUESTION_START.match(s):
        return None
    shifted = shift(s, "client", referent, mentioned=False)
    if shifted is None:
        return None
    noun = referent.noun
    if shifted[0].lower().startswith(noun):
        return Restated(_sentence(shifted[0]), True)
    reported = shift(s, "client", referent, mentioned=True)  # named by the frame, pronouns inside
    if reported is None:
        return None
    return Restated(_sentence(_FRAMES["frame_reports"].format(noun=noun, text=_inner(reported[0]))), True)


def _clinician_clause(s: str, referent: Referent) -> Restated | None:
    """A clause of the clinician's; DROPPED for steering talk, None where no rule is faithful."""
    s = _VOCATIVE.sub("", s)
    if _QUESTION_START.match(s):
        return None
    for pattern, frame in ((_ADVICE, _FRAMES["frame_advised"]), (_CONCERN, _FRAMES["frame_concern"]),
                           (_IMPRESSION, _FRAMES["frame_impression"])):
        match = pattern.match(s)
        if match:
            rest = re.sub(r"(?i)^(?:go ahead and|just|also)\s+", "", match.group(1))
            text = _shift_rest(rest, "clinician", referent, mentioned="{noun}" in frame)
            return Restated(_sentence(frame.format(noun=referent.noun, text=text)), True) if text else None
    match = _PLAN.match(s)
    if match:
        rest = match.group(1) or match.group(2)
        if _STEERING.match(rest):
            return DROPPED
        text = _shift_rest(rest, "clinician", referent)
        return Restated(_sentence(text), referent.noun in text.lower()) if text else None
    match = _KNOWN.match(s)
    if match:
        s = match.group(1)
    s = _NEGATIVE_FINDING.sub("no ", _FOUND.sub("", s))
    shifted = shift(s, "clinician", referent, mentioned=False)
    return Restated(_sentence(shifted[0]), shifted[1]) if shifted else None


DROPPED = Restated("", False)


def _restate_clauses(s: str, clause: Callable[[str, Referent], Restated | None], speaker: str,
                     referent: Referent) -> list[Restated] | None:
    """The sentence with its opening phrase if a rule takes the rest ("for your diabetes, I'd like to increase
    your metformin" → "For his diabetes, increase …"); else its clauses, each its own statement, if a rule
    takes every one; else the whole sentence if a rule takes it; else None."""
    prefix = _PREFIX.match(s)
    if prefix:
        main = clause(prefix.group(2), referent)
        lead = _shift_rest(prefix.group(1), speaker, referent, mentioned=True)
        if main is not None and main.text and lead:
            label, _, said = main.text.rpartition(": ") if ": " in main.text else ("", "", main.text)
            text = f"{lead}, {said[:1].lower()}{said[1:]}"
            return [Restated(_sentence(f"{label}: {text}" if label else text), main.mentioned)]
    parts = [p for p in _CLAUSES.split(s) if p and p.strip()]
    if len(parts) > 1:  # one fact per statement: "…, and I'd like to refer you" is a plan of its own
        out: list[Restated] = []
        for part in parts:
            restated = clause(_clean(part), referent)
            if restated is None:
                break
            if restated.text:
                out.append(restated)
        else:
            return out
    whole = clause(s, referent)
    if whole is not None:
        return [whole] if whole.text else []
    return None


def restate(sentence: str, role: str | None, referent: Referent) -> list[Restated] | None:
    """One sentence of the client's or the clinician's as note sentences (one fact each); [] where it says
    nothing a note keeps (steering talk, a command to a voice assistant); None where no rule is faithful."""
    if role not in ("client", "clinician"):
        return None
    if role == "clinician":
        assistant = _ASSISTANT.match(sentence.strip())
        if assistant:
            if _ASSISTANT_CHROME.match(assistant.group(1)):
                return []
            sentence = assistant.group(1)
    s = _clean(sentence)
    if not s:
        return []
    if role == "client":
        return _restate_clauses(s, _client_clause, "client", referent)
    return _restate_clauses(s, _clinician_clause, "clinician", referent)


__all__ = ["Restated", "answer_polarity", "restate", "restate_answer"]
