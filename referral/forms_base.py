"""Form helpers shared by the domains' forms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from wtforms import Field, PasswordField

from .errors import DomainError, NotFound
from .labels import message
from .text import IDENTIFYING_FIELDS, fold_digits, text_problem
from .transaction import keep_on_error, undone_on_error

# WTForms' own messages ("Not a valid choice"...) per locale, read once per process: Flask-WTF
# reads and parses the catalogue file again in every request that builds a form.
_WTFORMS_CATALOGUES: dict[str, Any] = {}


def _wtforms_translations() -> Any:
    from babel import support
    from flask_babel import get_locale
    from wtforms.i18n import messages_path

    locale = get_locale()
    key = str(locale)
    found = _WTFORMS_CATALOGUES.get(key)
    if found is None:
        found = _WTFORMS_CATALOGUES[key] = support.Translations.load(messages_path(), [locale], domain="wtforms")
    return found


class CheckedForm(FlaskForm):
    """Every page's form: besides its own validators, each text field refuses what its kind of
    field refuses (referral/text.py: controls and direction overrides in names and identifiers,
    controls other than tab and line breaks in free text), naming the field, input kept."""

    class Meta:
        def get_translations(self, form: Any) -> Any:
            return _wtforms_translations()

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        for field in self._text_fields():
            problem = text_problem(field.data, identifying=field.short_name in IDENTIFYING_FIELDS)
            if problem:
                field.errors = [*list(field.errors), message(problem)]
                valid = False
        return valid

    def _text_fields(self) -> list[Field]:
        found: list[Field] = []
        stack: list[Any] = list(self)
        while stack:
            field = stack.pop()
            if hasattr(field, "entries"):  # a FieldList
                stack.extend(field.entries)
            elif hasattr(field, "form") and hasattr(field.form, "_fields"):  # a FormField
                stack.extend(field.form)
            elif isinstance(field.data, str) and not isinstance(field, PasswordField):
                found.append(field)
        return found


def digits(value: Any) -> Any:
    """A form filter: numbers typed in Arabic-Indic, Extended Arabic-Indic or fullwidth digits read as ASCII."""
    return fold_digits(value) if isinstance(value, str) else value


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


def attempt(action: Callable[[], Any], *, catch_not_found: bool = True) -> tuple[Any, DomainError | None]:
    """Run a service call so that a refusal changes nothing: in a savepoint that a `DomainError`
    rolls back (the side effects it queued dropped with it), the error then returned. What the
    request did around the call stands and is kept though the page answers with an error status
    (`keep_on_error`): the page shown again is a view whose audit must land, and so must the
    refused accesses noted on the way. With `catch_not_found=False` a "not found" is raised on
    (a 404 page, with nothing kept but the denial)."""
    try:
        with undone_on_error():
            return action(), None
    except DomainError as error:
        if isinstance(error, NotFound) and not catch_not_found:
            raise
        keep_on_error()
        return None, error


def submit(form: FlaskForm, action: Callable[[], Any]) -> Outcome:
    """Validate a posted form and run the service call (see `attempt`); on a refusal the errors
    are attached to the form (which keeps what the user typed) and the status is 400: the
    service's writes are undone, the page's own view record is kept."""
    if form.validate_on_submit():
        value, error = attempt(action)
        if error is None:
            return Outcome(True, value)
        attach_errors(form, error)
        return Outcome(False, status=400)
    if request.method == "POST":
        keep_on_error()  # nothing ran; the page shown again is a view, and stays recorded
        return Outcome(False, status=400)
    return Outcome(False, status=200)
