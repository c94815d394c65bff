"""Sentences for a turn transcribed without punctuation.

Some transcripts carry no sentence marks at all (a speech engine without punctuation, or half of
ACI-BENCH's visits): a long turn is then one "sentence" of a hundred words, which no rule can
restate, no classifier sees whole, and no reader wants quoted. Here such a turn is cut where
spoken English starts a new clause — a discourse marker ("okay", "alright", "so") or a
conjunction before a new subject ("and I'm going to…"), a contracted subject ("I'm", "we'll",
"let's", "it's"), a question opener ("do you", "have you", "how long") — and each piece gets a
full stop, or a question mark where it opens like a question. Words are never changed or
dropped, only marks added, so every sentence is still what was said.
"""

from __future__ import annotations

import re

MIN_WORDS = 12  # a turn shorter than this is left as it is
MIN_PIECE = 3  # pieces shorter than this stay with their neighbour

_MARKERS = frozenset({"okay", "ok", "alright", "anyway", "now"})
_CONJUNCTIONS = frozenset({"and", "but", "so", "then", "also", "well", "yeah", "yes", "no", "um", "uh"})
_CONTRACTED = frozenset("""i'm i've i'll i'd we're we'll we've we'd you're you've you'll you'd let's it's that's
    there's here's he's she's they're they've they'll what's""".split())
_SUBJECTS = frozenset("i we you your my it there he she they the this that let's".split()) | _CONTRACTED
_QUESTION_PAIRS = frozenset({
    ("do", "you"), ("did", "you"), ("have", "you"), ("are", "you"), ("can", "you"), ("could", "you"),
    ("would", "you"), ("were", "you"), ("is", "it"), ("is", "there"), ("are", "there"), ("was", "it"),
    ("does", "it"), ("did", "it"), ("how", "long"), ("how", "often"), ("how", "much"), ("how", "many"),
    ("how", "are"), ("how", "is"), ("how", "about"), ("how", "was"), ("how", "did"), ("how", "do"),
    ("what", "about"), ("what", "kind"), ("what", "is"), ("what", "are"), ("what", "was"), ("what", "did"),
    ("when", "did"), ("where", "is"), ("where", "did"), ("any", "other"), ("does", "that"), ("is", "that"),
    ("any", "nausea"), ("any", "fever"), ("any", "pain"), ("has", "anyone"), ("has", "anybody"), ("is", "anyone"),
    ("does", "anyone"), ("did", "anyone"), ("so", "what"), ("so", "how"),
})
_QUESTION_WORDS = frozenset({"what's", "how's", "where's", "who's", "when's", "why's"})
_EXAM = frozenset({"exam", "examination"})
# A clause cannot start after these: "I think it's", "because I'm", "that you're".
_BINDS = frozenset("""because cause that if when since which where as than like think know guess mean said
    feel believe hope sure say says whether while until unless though although what how why who the a an to
    of for with and but so or""".split())
_BEFORE_NOW = frozenset({"right", "for", "until", "till", "by", "from", "just", "even"})
_CONTINUES = frozenset("we i don't to let would will can could should make help".split())
_WORD = re.compile(r"\S+")


def _bare(token: str) -> str:
    return token.lower().strip(",;:\"'()")


def is_unpunctuated(text: str) -> bool:
    return len(text.split()) >= MIN_WORDS and not re.search(r"[.?!]", text)


def _starts_clause(words: list[str], i: int) -> bool:
    word = words[i]
    following = words[i + 1] if i + 1 < len(words) else ""
    previous = words[i - 1] if i else ""
    if previous in _BINDS - _CONJUNCTIONS:
        return False
    if word == "now" and previous in _BEFORE_NOW:
        return False  # "right now", "for now"
    if word in _MARKERS:
        return True
    if word in _CONJUNCTIONS and (following in _SUBJECTS or (following, words[i + 2] if i + 2 < len(words) else "")
                                  in _QUESTION_PAIRS or _exam_at(words, i + 1)):
        return previous not in _CONJUNCTIONS
    if _exam_at(words, i) and previous not in _CONJUNCTIONS:
        return True  # a dictated examination: "… on your lung exam your lungs are clear"
    if previous in _CONJUNCTIONS or previous in _MARKERS:
        return False  # the clause starts at the conjunction before it
    if previous in _CONTINUES:
        return False  # "why don't we have you come back"
    return word in _CONTRACTED or (word, following) in _QUESTION_PAIRS


def _exam_at(words: list[str], i: int) -> bool:
    return i < len(words) and words[i] == "on" and any(w in _EXAM for w in words[i + 1:i + 5])


def _is_question(words: list[str]) -> bool:
    for j in range(min(len(words), 3)):  # past an opening "okay and …"
        if words[j] in _QUESTION_WORDS:
            return True
        if j + 1 < len(words) and (words[j], words[j + 1]) in _QUESTION_PAIRS:
            return True
        if words[j] not in _MARKERS | _CONJUNCTIONS:
            break
    return False


_ANSWER = re.compile(r"(?i)^((?:no|nope|yes|yeah|yep)) (?=(?:i|i'm|i've|i'd|it|it's|that|that's|we|my|they)\b)")


def split(text: str) -> list[str]:
    """`text` cut into sentences with marks added, if it has no sentence marks and is long; else [text].

    An unpunctuated turn that opens with a yes or no before its own clause ("no i had diarrhea") gets
    the comma a punctuated transcript has there, so the answer is not read as negating the clause."""
    if not re.search(r"[.?!,]", text):
        text = _ANSWER.sub(r"\1, ", text)
    if not is_unpunctuated(text):
        if re.search(r"[.?!]", text):
            return [text]
        short = [_bare(t) for t in _WORD.findall(text)]
        return [text + "?"] if short and _is_question(short) else [text]  # "okay so any nausea or fever"
    tokens = _WORD.findall(text)
    words = [_bare(t) for t in tokens]
    cuts = [0] + [i for i in range(1, len(tokens)) if _starts_clause(words, i)] + [len(tokens)]
    pieces: list[tuple[int, int]] = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        if pieces and (end - start < MIN_PIECE or pieces[-1][1] - pieces[-1][0] < MIN_PIECE):
            pieces[-1] = (pieces[-1][0], end)  # too short to stand alone: joins its neighbour
        else:
            pieces.append((start, end))
    out = []
    for start, end in pieces:
        sentence = " ".join(tokens[start:end]).rstrip(" ,;:")
        out.append(sentence + ("?" if _is_question(words[start:end]) else "."))
    return out
