"""The demo's scripted therapy-style dialogue, per language.

Fictional, written for the demo; it contains no objection to the assistant
(the consent tests use their own lines).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Voice:
    display_name: str
    role: str
    espeak_voice: str
    words_per_minute: int
    pitch: int


@dataclass(frozen=True)
class Line:
    role: str
    text: str


@dataclass(frozen=True)
class Script:
    name: str
    language: str
    voices: tuple[Voice, Voice]
    lines: tuple[Line, ...]
    pause_s: float = 1.2  # turn-taking gap between speakers
    expect_bot_to_leave: bool = False  # the script contains an objection

    def voice(self, role: str) -> Voice:
        return next(v for v in self.voices if v.role == role)


ENGLISH = Script(
    name="en",
    language="en",
    voices=(
        Voice("Dr. Rivera", "clinician", "en-us+f3", 150, 55),
        Voice("Sam", "client", "en-gb+m3", 145, 40),
    ),
    lines=(
        Line("clinician", "Good afternoon, Sam. How have you been sleeping since our last session?"),
        Line("client", "Better than before. I go to bed at eleven now, and I stopped drinking coffee after lunch."),
        Line("clinician", "That is real progress. What about the anxiety before meetings at work?"),
        Line("client", "The meetings still make me nervous, but I used the breathing exercise twice last week, and it helped."),
        Line("clinician", "I am glad it helped. What did you notice in your body when the nervousness started?"),
        Line("client", "My chest felt tight and my hands were cold, but after a few slow breaths it passed."),
        Line("clinician", "For next week, please write down one worry each evening and rate it from one to ten."),
        Line("client", "Okay, I can do that. I will keep a notebook next to my bed."),
    ),
)

SPANISH = Script(
    name="es",
    language="es",
    voices=(
        Voice("Dra. Rivera", "clinician", "es-419+f3", 150, 55),
        Voice("Samuel", "client", "es+m3", 145, 40),
    ),
    lines=(
        Line("clinician", "Buenas tardes, Samuel. ¿Cómo ha dormido desde nuestra última sesión?"),
        Line("client", "Mejor que antes. Ahora me acuesto a las once y dejé de tomar café después del almuerzo."),
        Line("clinician", "Es un buen avance. ¿Y la ansiedad antes de las reuniones del trabajo?"),
        Line("client", "Las reuniones todavía me ponen nervioso, pero usé el ejercicio de respiración dos veces y me ayudó."),
        Line("clinician", "Para la próxima semana, escriba cada noche una preocupación y califíquela del uno al diez."),
        Line("client", "De acuerdo, puedo hacerlo. Voy a dejar un cuaderno al lado de la cama."),
    ),
)

# The client objects right after the announcement: the bot must acknowledge, keep
# nothing and leave.
SPANISH_OBJECTION = Script(
    name="es-objection",
    language="es",
    voices=SPANISH.voices,
    lines=(
        Line("clinician", "Buenas tardes, Samuel. ¿Cómo ha estado esta semana?"),
        Line("client", "Perdone, antes de empezar: no quiero que me graben. Por favor, apáguelo."),
    ),
    expect_bot_to_leave=True,
)

ENGLISH_OBJECTION = Script(
    name="en-objection",
    language="en",
    voices=ENGLISH.voices,
    lines=(
        Line("clinician", "Good afternoon, Sam. How has your week been?"),
        Line("client", "Sorry, before we start: I don't want this recorded. Please turn the assistant off."),
    ),
    expect_bot_to_leave=True,
)

SCRIPTS = {script.name: script for script in (ENGLISH, SPANISH, ENGLISH_OBJECTION, SPANISH_OBJECTION)}


def script_for(language: str, scenario: str) -> Script:
    name = language if scenario == "dialogue" else f"{language}-{scenario}"
    if name not in SCRIPTS:
        raise ValueError(f"no demo script {name!r}; there are: {', '.join(sorted(SCRIPTS))}")
    return SCRIPTS[name]
