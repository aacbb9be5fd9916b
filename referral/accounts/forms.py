"""Forms of sign-in, account and user administration. Validation of rules lives in services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..enums import ROLES
from ..labels import ROLE_LABELS


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class CodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    confirm_password = PasswordField(_l("Repeat the new password"), validators=[DataRequired(), Length(max=256)])


class LocaleForm(FlaskForm):
    locale = HiddenField(validators=[DataRequired()])
    next = HiddenField()


class TokenForm(FlaskForm):
    label = StringField(_l("What the token is for"), validators=[Optional(), Length(max=100)])
    days = IntegerField(_l("Valid for (days)"), default=90, validators=[DataRequired(), NumberRange(1, 365)])


class EmailNotificationsForm(FlaskForm):
    notify_by_email = BooleanField(_l("Also send my notifications by e-mail"))


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


def role_choices(roles: tuple[str, ...] = ROLES) -> list[tuple[str, str]]:
    return [(r, str(ROLE_LABELS[r])) for r in roles]


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    email = EmailField(_l("E-mail (optional)"), validators=[Optional(), Length(max=254)])
    organization_id = SelectField(_l("Organisation"), validators=[DataRequired()])
    role = SelectField(_l("Role"), validators=[DataRequired()])
    network_id = SelectField(_l("Network (coordinators only)"), validators=[Optional()])


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), validators=[DataRequired()])
