"""sessionbot: a consent-first telehealth meeting bot that transcribes locally."""

__version__ = "0.1.0"
