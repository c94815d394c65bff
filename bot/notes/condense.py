"""Condensing: rewrite a sentence into the clinician's third person only where a rule is faithful.

"I have been sleeping better" → "Client reports: sleeping better"; anything a rule cannot
rewrite safely is quoted verbatim. Adjacent pieces share one prefix or one quotation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.notes.phrases import phrases
from bot.notes.text import words

@dataclass(frozen=True)
class Piece:
    """One sentence of a statement: rewritten (`phrase` is a PHRASES key) or quoted verbatim."""

    text: str
    phrase: str | None  # None: quote verbatim


_EN_LEAD = re.compile(r"(?i)^(?:(?:well|so|and|but|um|uh|oh|okay|ok|alright|all right|yeah|you know|i mean|honestly|"
                      r"actually|like|now|anyway)\s*,?\s+)+")
_EN_FIRST_PERSON = re.compile(r"(?i)\b(?:i|i'm|i've|i'd|i'll|me|myself|mine|we|we're|we've|we'll|we'd|us|our|ours|"
                              r"ourselves)\b")
_EN_SECOND_PERSON = re.compile(r"(?i)\b(?:you|you're|you've|you'll|you'd|your|yours|yourself)\b")
_EN_IRREGULAR_PAST = frozenset("""went had got felt did took saw made slept woke came left told said thought tried
    found kept lost gave began started ran ate drank fell heard knew met paid put quit read sat spent stood stopped
    became brought bought caught chose drove forgot forgave got hid hit hurt let meant rode rang rose sold sent shook
    shut sang sank spoke stole struck swam taught tore threw understood wore won wrote broke""".split())
_EN_ADVERB = r"(?:(?:really|just|also|never|still|always|usually|sometimes|often|actually|only|even|finally|" \
             r"definitely|kind of|sort of|already|mostly|barely|hardly|probably)\s+)?"
_EN_NEGATIONS = {"don't": "does not", "do not": "does not", "didn't": "did not", "did not": "did not",
                 "can't": "cannot", "cannot": "cannot", "can not": "cannot", "couldn't": "could not",
                 "won't": "will not", "wouldn't": "would not", "shouldn't": "should not", "haven't": "has not",
                 "have not": "has not", "wasn't": "was not", "am not": "is not", "'m not": "is not"}
_EN_MODALS = {"can": "can", "could": "could", "will": "will", "would": "would", "should": "should",
              "might": "might", "may": "may", "must": "must", "'ll": "will", "'d": "would"}


def _third_person(verb: str) -> str | None:
    """'think' → 'thinks'; None for words that do not look like a base-form verb."""
    if not verb.isalpha() or len(verb) < 2:
        return None
    if verb in ("have",):
        return "has"
    if verb in ("do", "go"):
        return verb + "es"
    if verb.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _en_client_rest(rest: str) -> str | None:
    """What follows the rewritten subject: 'my' → 'their'; any other first/second person → not rewritable."""
    rest = re.sub(r"(?i)\bmy\b", "their", rest)
    if _EN_FIRST_PERSON.search(rest) or _EN_SECOND_PERSON.search(rest):
        return None
    return rest.strip(" ,;")


def _en_client(sentence: str) -> Piece | None:
    s = _EN_LEAD.sub("", sentence.strip()).rstrip(".!;, ")
    low = s.lower()
    if not low:
        return None
    if re.match(r"(?i)^(?:yes|yeah|yep|no|nope|not really)\b", low):
        return None  # an answer: without its question a rewrite would lose what it answers
    if not re.match(r"(?i)^i\b|^i'", low):
        rest = _en_client_rest(s)  # no first-person subject: reported as said ("work has been stressful")
        return Piece(rest, "reports") if rest else None
    patterns: list[tuple[str, str]] = [
        (r"^i(?:'ve| have) been (" + _EN_ADVERB + r"\w+ing\b.*)$", r"\1"),
        (r"^i(?:'ve| have) been (.+)$", r"has been \1"),
        (r"^i(?:'m| am) (" + _EN_ADVERB + r"\w+ing\b.*)$", r"\1"),
        (r"^i(?:'m| am) not (.+)$", r"is not \1"),
        (r"^i(?:'m| am) (.+)$", r"is \1"),
        (r"^i(?:'ve| have) (not|never) (.+)$", r"has \1 \2"),
        (r"^i(?:'ve| have) (.+)$", r"has \1"),
        (r"^i (was|wasn't) (.+)$", r"\1 \2"),
    ]
    for pattern, replacement in patterns:
        match = re.match(pattern, s, flags=re.IGNORECASE)
        if match:
            rest = _en_client_rest(match.expand(replacement))
            return Piece(rest, "reports") if rest else None
    match = re.match(r"(?i)^i\s*(don't|do not|didn't|did not|can't|cannot|can not|couldn't|won't|wouldn't|"
                     r"shouldn't|haven't|have not|wasn't|'m not|am not)\s+(.+)$", s)
    if match:
        rest = _en_client_rest(f"{_EN_NEGATIONS[match.group(1).lower()]} {match.group(2)}")
        return Piece(rest, "reports") if rest else None
    match = re.match(r"(?i)^i\s*(can|could|will|would|should|might|may|must|'ll|'d)\s+(.+)$", s)
    if match:
        rest = _en_client_rest(f"{_EN_MODALS[match.group(1).lower()]} {match.group(2)}")
        return Piece(rest, "reports") if rest else None
    match = re.match(r"(?i)^i (" + _EN_ADVERB + r")(\w+)\b(.*)$", s)
    if match:
        adverb, verb, tail = match.group(1), match.group(2).lower(), match.group(3)
        if verb.endswith("ed") or verb in _EN_IRREGULAR_PAST:
            conjugated: str | None = verb
        elif verb.endswith("ing") or verb in ("a", "the", "to", "and", "my", "mean", "guess", "know"):
            conjugated = None
        else:
            conjugated = _third_person(verb)
        if conjugated:
            rest = _en_client_rest(f"{adverb}{conjugated}{tail}")
            return Piece(rest, "reports") if rest else None
    return None


_EN_CLINICIAN_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), phrase) for p, phrase in (
        (r"^(?:i'd like you to|i would like you to|i want you to|i'd like for you to|i need you to|"
         r"i'm going to have you|i'll have you|i'd recommend that you|i recommend that you|i'd suggest that you|"
         r"i suggest you|you should|you need to|try to|try and|make sure to|make sure you|please|go ahead and)\s+"
         r"(.+)$", "asked_to"),
        (r"^(?:let's|let us)\s+(.+)$", "suggested"),
        (r"^(?:we'll|we will|we're going to|we are going to|we're gonna|i'll|i will|i'm going to|"
         r"i am going to|i'm gonna|i want to|i'd like to|we need to|we should|i'm also going to|we're also going to|"
         r"we'll also|i'll also|i wanna|i do wanna|i also wanna|i also want to|i do want to|we wanna|we want to|"
         r"we're gonna|we also wanna|i'm also gonna|we'll go ahead and|i'll go ahead and|we can|i can)\s+(.+)$",
         "plan"),
        (r"^(?:i'm concerned|i am concerned|i'm worried|i am worried|i'm a little concerned|i'm a bit worried)"
         r"(?:\s+(?:that|about))?\s+(.+)$", "concern"),
        (r"^(?:i think|i believe|i feel like|i suspect|it sounds like|it seems like|it seems that|it seems|"
         r"it looks like|it appears that|i'm glad that|i'm happy that)(?:\s+that)?\s+(.+)$", "impression"),
        (r"^(?:i notice that|i noticed that|i notice|i noticed|i see that|i can see that|i can see|i know that|"
         r"i know|i understand that|i understand|i remember that|i see here that|i see here|i see)\s+(.+)$", "noted"),
    )
)


def _en_clinician_rest(rest: str) -> str | None:
    """Second person → the client; what cannot be mapped (first person, bare 'you') is not rewritable."""
    rules = (
        (r"\byou(?:'re| are)\b", "the client is"), (r"\byou(?:'ve| have)\b", "the client has"),
        (r"\byou were\b", "the client was"), (r"\byou(?:'ll| will)\b", "the client will"),
        (r"\byou'd\b", "the client would"), (r"\byourself\b", "themself"), (r"\byour\b", "the client's"),
        (r"\byou (can|could|should|might|may|must|did|didn't|don't|do not|seem|seemed)\b", r"the client \1"),
    )
    for pattern, replacement in rules:
        rest = re.sub(pattern, replacement, rest, flags=re.IGNORECASE)
    rest = re.sub(r"(?i)\b(on|for|with|to|at|about|from|by|give|send|see|refer|call|check|start|put|continue|help|"
                  r"ask|tell|let|get|keep|bring|show|remind|examine|schedule|order)\s+you\b", r"\1 the client", rest)
    rest = re.sub(r"(?i)\byou (" + _EN_ADVERB + r")(\w+)\b",
                  lambda m: f"the client {m.group(1)}{m.group(2)}"
                  if m.group(2).lower().endswith("ed") or m.group(2).lower() in _EN_IRREGULAR_PAST else m.group(0), rest)
    rest = re.sub(r"(?i)\bthe client (seem)\b", r"the client seems", rest)
    rest = re.sub(r"(?i)\bthe client don't\b|\bthe client do not\b", "the client does not", rest)
    if _EN_FIRST_PERSON.search(rest) or _EN_SECOND_PERSON.search(rest):
        return None
    return rest.strip(" ,;")


def _en_clinician(sentence: str) -> Piece | None:
    s = _EN_LEAD.sub("", sentence.strip()).rstrip(".!;, ")
    for pattern, phrase in _EN_CLINICIAN_RULES:
        match = pattern.match(s)
        if match:
            rest = _en_clinician_rest(match.group(1))
            return Piece(rest, phrase) if rest else None
    rest = _en_clinician_rest(s) if s else None  # "your blood pressure is a little elevated" → "their blood …"
    return Piece(rest, "noted") if rest else None


# Spanish: first-person forms at the start of a sentence and their third-person forms. Spanish
# drops the subject pronoun and conjugates, so only a listed verb form can be rewritten safely.
_ES_VERBS = {
    "estoy": "está", "tengo": "tiene", "puedo": "puede", "quiero": "quiere", "necesito": "necesita",
    "voy": "va", "soy": "es", "sigo": "sigue", "duermo": "duerme", "creo": "cree", "pienso": "piensa",
    "siento": "siente", "hago": "hace", "intento": "intenta", "trato": "trata", "salgo": "sale",
    "tuve": "tuvo", "estuve": "estuvo", "fui": "fue", "hice": "hizo", "pude": "pudo", "quise": "quiso",
    "dormí": "durmió", "sentí": "sintió", "dije": "dijo", "supe": "supo", "vine": "vino", "di": "dio",
    "comí": "comió", "bebí": "bebió", "salí": "salió", "volví": "volvió", "perdí": "perdió", "decidí": "decidió",
    "estaba": "estaba", "tenía": "tenía", "podía": "podía", "quería": "quería", "sentía": "sentía", "iba": "iba",
    "era": "era", "bebo": "bebe", "como": "come", "fumo": "fuma", "lloro": "llora", "trabajo": "trabaja",
    "camino": "camina", "practico": "practica", "evito": "evita", "noto": "nota", "paso": "pasa",
    "he": "ha", "había": "había", "habré": "habrá", "haré": "hará", "iré": "irá", "podré": "podrá",
    "tendré": "tendrá", "llevo": "lleva", "echo": "echa", "prefiero": "prefiere", "recuerdo": "recuerda",
    "sé": "sabe", "veo": "ve", "vi": "vio", "leo": "lee", "escribo": "escribe", "vuelvo": "vuelve",
}
_ES_REFLEXIVE = {  # me + verb → se + verb (reflexive verbs: the subject is the client)
    "siento": "siente", "sentí": "sintió", "despierto": "despierta", "desperté": "despertó",
    "acuesto": "acuesta", "acosté": "acostó", "levanto": "levanta", "levanté": "levantó", "olvido": "olvida",
    "olvidé": "olvidó", "pongo": "pone", "puse": "puso", "quedo": "queda", "quedé": "quedó", "enfado": "enfada",
    "enfadé": "enfadó", "enojo": "enoja", "enojé": "enojó", "preocupo": "preocupa", "agobio": "agobia",
    "agobié": "agobió", "canso": "cansa", "cansé": "cansó", "he": "ha", "había": "había", "sentía": "sentía",
}
_ES_DATIVE = frozenset("""cuesta costó duele dolió preocupa preocupó ayuda ayudó ayudaron gusta gustó gustan pasa
    pasó pasaron molesta molestó agobia agobió cansa da dio dan dieron sirve sirvió sirvieron funciona funcionó
    afecta afectó angustia angustió asusta asustó""".split())
_ES_LEAD = re.compile(r"(?i)^(?:(?:pues|bueno|eh|este|o sea|y|pero|mira|la verdad(?: es que)?|vale|entonces|"
                      r"además|también|ya|sí)\s*,?\s+)+")
_ES_FIRST_PERSON = re.compile(r"(?i)\b(?:yo|me|conmigo|mío|mía|míos|mías|nos|nosotros|nosotras|nuestro|nuestra|"
                              r"nuestros|nuestras|te|tú|tu|tus|ti|contigo|usted)\b")
_ES_NOT_VERBS_ENDING_ACCENT = frozenset("qué sé aquí allí ahí así sí mí café bebé país maíz más además también "
                                        "según quizá quizás está".split())


def _es_rest(rest: str) -> str | None:
    rest = re.sub(r"(?i)\bmis\b", "sus", re.sub(r"(?i)\bmi\b", "su", rest))
    if _ES_FIRST_PERSON.search(rest):
        return None
    for word in words(rest):
        if word in _ES_VERBS and word not in ("como", "trabajo", "paso", "camino", "era", "estaba", "tenía",
                                              "podía", "quería", "sentía", "iba", "había"):
            return None  # another first-person verb: mixing persons would misquote
        if len(word) > 3 and word.endswith(("é", "í")) and word not in _ES_NOT_VERBS_ENDING_ACCENT:
            return None  # likely a first-person preterite (hablé, salí)
    return rest.strip(" ,;")


def _es_client(sentence: str) -> Piece | None:
    s = _ES_LEAD.sub("", sentence.strip()).rstrip(".!;, ")
    s = re.sub(r"(?i)^yo\s+", "", s)
    negation = ""
    if re.match(r"(?i)^no\s+", s):
        negation, s = "no ", s[3:].lstrip()
    tokens = s.split(maxsplit=2)
    if not tokens:
        return None
    first = tokens[0].lower()
    if first == "he" and len(tokens) > 1 and tokens[1].lower() == "estado" and len(tokens) > 2:
        tail = tokens[2]
        gerund = re.match(r"(?i)^(\w+(?:ando|iendo|yendo))\b", tail)
        text = tail if gerund else f"ha estado {tail}"
    elif first == "me" and len(tokens) > 1:
        verb = tokens[1].lower()
        tail = tokens[2] if len(tokens) > 2 else ""
        if verb == "he" and tail:  # "me he sentido mal" → "se ha sentido mal"
            text = f"se ha {tail}"
        elif verb in _ES_REFLEXIVE:
            text = f"se {_ES_REFLEXIVE[verb]} {tail}".strip()
        elif verb in _ES_DATIVE:
            text = f"le {verb} {tail}".strip()
        else:
            return None
    elif first in _ES_VERBS:
        text = f"{_ES_VERBS[first]} {' '.join(tokens[1:])}".strip()
    elif not negation and not re.search(r"(?i)(?:o|é|í)$", first):
        text = s  # no first-person verb at the start ("el trabajo ha sido duro")
    else:
        return None
    rest = _es_rest(negation + text)
    return Piece(rest, "reports") if rest else None


def condense(sentences_: Sequence[str], role: str | None, language: str) -> list[Piece]:
    """Rewrite each sentence when a rule is faithful; otherwise keep it as a verbatim quote."""
    pieces: list[Piece] = []
    for sentence in sentences_:
        piece: Piece | None = None
        if role == "client" and language == "en":
            piece = _en_client(sentence)
        elif role == "client" and language == "es":
            piece = _es_client(sentence)
        elif role == "clinician" and language == "en":
            piece = _en_clinician(sentence)
        pieces.append(piece or Piece(sentence.strip(), None))
    return pieces


def render_pieces(pieces: Sequence[Piece], who: str, language: str) -> str:
    """Join pieces: consecutive 'reports' clauses share one prefix, consecutive quotes one quotation."""
    p = phrases(language)
    parts: list[str] = []
    index = 0
    while index < len(pieces):
        phrase = pieces[index].phrase
        group = [pieces[index].text]
        while index + 1 < len(pieces) and pieces[index + 1].phrase == phrase and phrase in (None, "reports"):
            index += 1
            group.append(pieces[index].text)
        if phrase is None:
            parts.append(p["said"].format(who=who, text=" ".join(group)))
        else:
            joined = "; ".join(g.rstrip(".") for g in group)
            parts.append(p[phrase].format(text=joined))
        index += 1
    return " ".join(parts)
