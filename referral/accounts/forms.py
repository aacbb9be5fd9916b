"""Forms of sign-in, account and user administration. Validation of rules lives in services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, HiddenField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..enums import ROLES
from ..forms_base import CheckedForm
from ..labels import ROLE_LABELS


class LoginForm(CheckedForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class CodeForm(CheckedForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])


class PasswordChangeForm(CheckedForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    confirm_password = PasswordField(_l("Repeat the new password"), validators=[DataRequired(), Length(max=256)])


class LocaleForm(CheckedForm):
    locale = HiddenField(validators=[DataRequired()])
    next = HiddenField()


class TokenForm(CheckedForm):
    label = StringField(_l("What the token is for"), validators=[Optional(), Length(max=100)])
    days = IntegerField(_l("Valid for (days)"), default=90, validators=[DataRequired(), NumberRange(1, 365)])


class EmailNotificationsForm(CheckedForm):
    notify_by_email = BooleanField(_l("Also send my notifications by e-mail"))


class TimeZoneForm(CheckedForm):
    time_zone = StringField(_l("My time zone"), validators=[Optional(), Length(max=64)])


class ActionForm(CheckedForm):
    """A button that changes something: only the CSRF token."""


def role_choices(roles: tuple[str, ...] = ROLES) -> list[tuple[str, str]]:
    return [(r, str(ROLE_LABELS[r])) for r in roles]


class UserForm(CheckedForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    email = EmailField(_l("E-mail (optional)"), validators=[Optional(), Length(max=254)])
    organization_id = SelectField(_l("Organisation"), validators=[DataRequired()])
    role = SelectField(_l("Role"), validators=[DataRequired()])
    network_id = SelectField(_l("Network (coordinators only; none: the national coordinator)"), validators=[Optional()])


class RoleForm(CheckedForm):
    role = SelectField(_l("Role"), validators=[DataRequired()])


class MfaResetForm(CheckedForm):
    """The confirmation step of a two-step sign-in reset: the admin says she has checked who asks."""

    identity_checked = BooleanField(
        _l(
            "I have confirmed that this person is who she says she is (in person, or by calling her back on a "
            "known number)."
        ),
        validators=[DataRequired(message=_l("Confirm that you checked who is asking before resetting."))],
    )
