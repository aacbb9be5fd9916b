"""Form helpers shared by the domains' forms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request
from flask_wtf import FlaskForm

from .errors import DomainError
from .labels import message


def attach_errors(form: FlaskForm, error: DomainError) -> None:
    """Show a service's field errors next to the fields they name (input is kept as typed)."""
    for name, code in error.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*list(field.errors), message(code)]
        else:
            form.form_errors.append(message(code))
    if not error.fields:
        form.form_errors.append(message(error.message))


@dataclass(frozen=True)
class Outcome:
    """What became of a submitted form: `done` with the service's result, or the status to answer."""

    done: bool
    value: Any = None
    status: int = 200


def submit(form: FlaskForm, action: Callable[[], Any]) -> Outcome:
    """Validate a posted form and run the service call; on a refusal the errors are attached to
    the form (which keeps what the user typed) and the status is 400, so nothing is written."""
    if form.validate_on_submit():
        try:
            return Outcome(True, action())
        except DomainError as error:
            attach_errors(form, error)
            return Outcome(False, status=400)
    return Outcome(False, status=400 if request.method == "POST" else 200)
