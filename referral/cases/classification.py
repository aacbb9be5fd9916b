"""GBVIMS classification: exactly one core type per incident, by the order of precedence.

The guided questions are asked in order; the first "yes" decides the type. Contexts such as
intimate partner violence or early marriage are recorded as flags alongside, never as types.
"""

from __future__ import annotations

from collections.abc import Mapping

# (question key, type it leads to), in the GBVIMS order of precedence.
PRECEDENCE: tuple[tuple[str, str], ...] = (
    ("penetration", "rape"),
    ("sexual_contact", "sexual_assault"),
    ("physical_violence", "physical_assault"),
    ("forced_marriage", "forced_marriage"),
    ("denial_of_resources", "denial_of_resources"),
    ("psychological_harm", "psychological_abuse"),
)
QUESTIONS = tuple(key for key, _ in PRECEDENCE)


def classify(answers: Mapping[str, bool]) -> str:
    """The one core type for these answers; `non_gbv` when every answer is no."""
    for question, gbv_type in PRECEDENCE:
        if answers.get(question):
            return gbv_type
    return "non_gbv"
