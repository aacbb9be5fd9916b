"""Form helpers shared by the domains' forms."""

from __future__ import annotations

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
