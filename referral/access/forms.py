"""The emergency-access form. It keeps what was typed; the rules are in `breakglass.py`."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from ..forms_base import CheckedForm


class BreakGlassForm(CheckedForm):
    case_code = StringField(_l("Case code"), validators=[InputRequired(), Length(max=20)])
    reason = TextAreaField(_l("Why you need this case now"), validators=[InputRequired(), Length(max=2000)])
    hours = SelectField(_l("For how long"), coerce=int, validators=[InputRequired()])
