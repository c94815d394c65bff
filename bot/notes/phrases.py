"""What the generated notes say around what was said, per language (en, es; others fall back to en)."""

from __future__ import annotations

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
        "risk_empty": "No risk language was found by the lexicon or the risk examples. This is not an assessment.",
        "risk_statement": "{label} ({signal}): {speaker} said \u201c{quote}\u201d",
        "signal_lexicon": "lexicon match",
        "signal_semantic": "similar to risk examples",
        "summary_title": "Client summary (draft) \u2014 Requires clinician approval before it is shared with the client",
        "summary_empty": "No next steps were identified in this session.",
        "summary_clinician": "Your clinician said: \u201c{text}\u201d",
        "summary_client": "You said: \u201c{text}\u201d",
        "summary_other": "{who} said: \u201c{text}\u201d",
        "over_budget": "To stay within its time limit, the assistant did not sort {skipped} of {total} transcript "
                       "sentences into sections; they are only in the transcript.",
        # clinician-style statements (bot/notes/restate.py): how the note names the client, and its frames
        "noun_client": "the client", "noun_patient": "the patient",
        "frame_reports": "{noun} reports {text}", "frame_denies": "{noun} denies {text}",
        "frame_advised": "{noun} is advised to {text}", "frame_impression": "Impression: {text}",
        "frame_concern": "Concern: {text}",
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
        "risk_empty": "Ni el léxico ni los ejemplos de riesgo encontraron lenguaje de riesgo. Esto no es una evaluación.",
        "risk_statement": "{label} ({signal}): {speaker} dijo \u00ab{quote}\u00bb",
        "signal_lexicon": "coincidencia del léxico",
        "signal_semantic": "parecido a ejemplos de riesgo",
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
