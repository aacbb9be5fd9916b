"""Forms of the case file. They parse and keep what was typed; the rules are in `services.py`."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..forms_base import CheckedForm
from ..labels import (
    CASE_STATUS_LABELS,
    CLOSURE_REASON_LABELS,
    CONSENT_METHOD_LABELS,
    GBV_TYPE_LABELS,
    INCIDENT_CONTEXT_LABELS,
    INCIDENT_QUESTIONS,
    MARITAL_STATUS_LABELS,
    PERPETRATOR_LABELS,
    RISK_LABELS,
    SEX_LABELS,
)
from ..security.fields import readable
from .classification import QUESTIONS
from .models import (
    AGE_GROUPS,
    CLOSURE_REASONS,
    GBV_TYPES,
    INCIDENT_CONTEXTS,
    MARITAL_STATUSES,
    PERPETRATOR_RELATIONSHIPS,
    REPORTING_DELAYS,
    RISK_LEVELS,
    SEXES,
    STATUSES,
)
from .services import SAFE_CONTACT_KEYS

NOT_RECORDED = _l("Not recorded")


def _choices(codes: tuple[str, ...], labels: dict[str, Any], blank: Any = None) -> list[tuple[str, str]]:
    """Select options for codes, with a first empty option when `blank` is given."""
    options = [(code, str(labels.get(code, code))) for code in codes]
    return [("", str(blank)), *options] if blank is not None else options


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class CheckboxesField(SelectMultipleField):
    """Checkboxes for a multiple choice (rendered by the `field` macro as a fieldset)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RequiredByService:
    """Marks a field as required on the page; the service checks it, with its other rules."""

    field_flags = {"required": True}

    def __call__(self, form: Any, field: Any) -> None:
        return None


# ------------------------------------------------------------------------------ the case file
STATISTICAL_CHOICES = (
    "age_group",
    "sex",
    "marital_status",
    "gbv_type",
    "perpetrator_relationship",
    "risk_level",
    "reporting_delay",
)


class CaseForm(CheckedForm):
    """Intake and edit: identifiers, safe contact, the narrative (intake only) and statistics."""

    full_name = StringField(_l("Full name"), validators=[RequiredByService(), Length(max=200)])
    national_id = StringField(_l("National ID number"), validators=[Optional(), Length(max=32)])
    date_of_birth = StringField(_l("Date of birth"), validators=[Optional(), Length(max=10)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=32)])
    address = TextAreaField(_l("Address"), validators=[Optional(), Length(max=500)])

    safe_to_call = BooleanField(_l("Safe to call"))
    safe_to_text = BooleanField(_l("Safe to send text messages"))
    safe_voicemail = BooleanField(_l("Safe to leave a voicemail"))
    safe_hours = StringField(_l("Safe hours to contact her"), validators=[Optional(), Length(max=100)])
    instructions = TextAreaField(
        _l("Instructions for contacting her safely (which name to use, what to say)"),
        validators=[Optional(), Length(max=1000)],
    )

    narrative = TextAreaField(_l("What happened, in her words"), validators=[Optional(), Length(max=20000)])

    governorate = SelectField(_l("Governorate"), default="", validators=[RequiredByService()])
    age_group = SelectField(_l("Age group"), default="")
    sex = SelectField(_l("Sex"), default="")
    disability = SelectField(_l("Disability"), default="")
    marital_status = SelectField(_l("Marital status"), default="")
    gbv_type = SelectField(_l("Type of violence"), default="")
    perpetrator_relationship = SelectField(_l("Perpetrator's relationship to her"), default="")
    risk_level = SelectField(_l("Risk level"), default="")
    reporting_delay = SelectField(_l("How long after the incident did she first report it?"), default="")
    statistics_consent = BooleanField(
        _l("She agrees that non-identifying data about her case may be counted in the network's statistics")
    )

    def __init__(self, *args: Any, governorates: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.governorate.choices = [("", str(_l("Choose a governorate"))), *governorates]
        self.age_group.choices = _choices(AGE_GROUPS, {}, NOT_RECORDED)
        self.sex.choices = _choices(SEXES, SEX_LABELS, NOT_RECORDED)
        self.disability.choices = [("", str(NOT_RECORDED)), ("yes", str(_l("Yes"))), ("no", str(_l("No")))]
        self.marital_status.choices = _choices(MARITAL_STATUSES, MARITAL_STATUS_LABELS, NOT_RECORDED)
        self.gbv_type.choices = _choices(GBV_TYPES, GBV_TYPE_LABELS, NOT_RECORDED)
        self.perpetrator_relationship.choices = _choices(PERPETRATOR_RELATIONSHIPS, PERPETRATOR_LABELS, NOT_RECORDED)
        self.risk_level.choices = _choices(RISK_LEVELS, RISK_LABELS, NOT_RECORDED)
        from ..statistics.labels import REPORTING_DELAYS as DELAY_LABELS

        self.reporting_delay.choices = _choices(REPORTING_DELAYS, DELAY_LABELS, NOT_RECORDED)

    def fill_from(self, case: Any) -> None:
        """Show a case's current values (the edit page)."""
        for name in ("full_name", "national_id", "date_of_birth", "phone", "address", "governorate"):
            getattr(self, name).data = readable(case, name) or ""  # a value that failed its check: empty
        for name in STATISTICAL_CHOICES:
            getattr(self, name).data = getattr(case, name) or ""
        self.statistics_consent.data = bool(case.statistics_consent)
        self.disability.data = "" if case.disability is None else ("yes" if case.disability else "no")
        contact = readable(case, "safe_contact") or {}
        for key in SAFE_CONTACT_KEYS:
            field = getattr(self, key)
            field.data = bool(contact.get(key)) if isinstance(field, BooleanField) else contact.get(key) or ""

    def values(self, *, with_narrative: bool) -> dict[str, Any]:
        """What the service takes: empty text is "not given", empty choices are "not recorded"."""
        values: dict[str, Any] = {}
        for name in ("full_name", "national_id", "date_of_birth", "phone", "address"):
            values[name] = (getattr(self, name).data or "").strip() or None
        values["safe_contact"] = {
            "safe_to_call": bool(self.safe_to_call.data),
            "safe_to_text": bool(self.safe_to_text.data),
            "safe_voicemail": bool(self.safe_voicemail.data),
            "safe_hours": (self.safe_hours.data or "").strip() or None,
            "instructions": (self.instructions.data or "").strip() or None,
        }
        if self.governorate.data:
            values["governorate"] = self.governorate.data
        for name in STATISTICAL_CHOICES:
            values[name] = getattr(self, name).data or None
        values["statistics_consent"] = bool(self.statistics_consent.data)
        values["disability"] = {"yes": True, "no": False}.get(self.disability.data or "")
        if with_narrative:
            values["narrative"] = (self.narrative.data or "").strip() or None
        return values


# ------------------------------------------------------------------------------ the list
class SearchForm(CheckedForm):
    """The search box: posted, so that an identifier typed here never lands in a URL."""

    q = StringField(_l("Case code, national ID or phone"), validators=[InputRequired(), Length(max=64)])
    status = HiddenField()
    risk_level = HiddenField()
    mine = HiddenField()


def status_choices() -> list[tuple[str, str]]:
    return _choices(STATUSES, CASE_STATUS_LABELS, _l("Any step"))


def risk_choices() -> list[tuple[str, str]]:
    return _choices(RISK_LEVELS, RISK_LABELS, _l("Any risk level"))


# ------------------------------------------------------------------------------ the steps
class CasePageForm(CheckedForm):
    """One of the several forms of the case page. Each has its own field prefix; the CSRF token
    is the app-wide one (checked for every POST by CSRFProtect), posted as plain `csrf_token`."""

    class Meta:
        csrf = False


class ConsentForm(CasePageForm):
    given = BooleanField(_l("She consents to receive services"))
    limits_explained = BooleanField(_l("The limits of confidentiality were explained to her"))
    method = SelectField(_l("How consent was given"), default="")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.method.choices = _choices(("written", "verbal"), CONSENT_METHOD_LABELS, _l("Choose"))

    def content(self) -> dict[str, Any]:
        return {
            "given": bool(self.given.data),
            "limits_explained": bool(self.limits_explained.data),
            "method": self.method.data or None,
        }


class AssessmentForm(CasePageForm):
    needs = TextAreaField(_l("Her needs (one per line)"), validators=[Length(max=25000)])
    immediate_danger = BooleanField(_l("She is in immediate danger"))
    risk_level = SelectField(_l("Risk level"), default="")
    notes = TextAreaField(_l("Assessment notes"), validators=[Optional(), Length(max=5000)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.risk_level.choices = _choices(RISK_LEVELS, RISK_LABELS, _l("Choose"))

    def content(self) -> dict[str, Any]:
        return {
            "needs": _lines(self.needs.data),
            "immediate_danger": bool(self.immediate_danger.data),
            "risk_level": self.risk_level.data or None,
            "notes": self.notes.data or "",
        }


class PlanForm(CasePageForm):
    actions = TextAreaField(_l("Actions, one per need (one per line)"), validators=[Length(max=25000)])

    def content(self) -> dict[str, Any]:
        return {"actions": _lines(self.actions.data)}


class SafetyPlanForm(CasePageForm):
    safety_plan = TextAreaField(_l("Safety plan"), validators=[Length(max=20000)])


class ClosureForm(CasePageForm):
    reason = SelectField(_l("Reason for closing"), default="")
    survivor_told_can_return = BooleanField(_l("She was told she can come back at any time"))
    notes = TextAreaField(_l("Closure notes"), validators=[Optional(), Length(max=5000)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reason.choices = _choices(CLOSURE_REASONS, CLOSURE_REASON_LABELS, _l("Choose"))

    def content(self) -> dict[str, Any]:
        return {
            "reason": self.reason.data or None,
            "survivor_told_can_return": bool(self.survivor_told_can_return.data),
            "notes": self.notes.data or "",
        }


class MoveForm(CasePageForm):
    to_status = HiddenField(validators=[InputRequired()])


class ApproveForm(CasePageForm):
    what = HiddenField(validators=[InputRequired()])


class ReturnForm(CasePageForm):
    """A supervisor returns an action plan or a closure to the case team, saying why."""

    what = HiddenField(validators=[InputRequired()])
    comment = TextAreaField(_l("What needs to change"), validators=[InputRequired(), Length(max=2000)])


class NoteForm(CasePageForm):
    body = TextAreaField(_l("New note"), validators=[Length(max=20000)])


class MemberForm(CasePageForm):
    user_id = SelectField(_l("Colleague"), validators=[InputRequired()])


# ------------------------------------------------------------------------------ incidents
_YES_NO = [SelectChoice("yes", _l("Yes")), SelectChoice("no", _l("No"))]


class IncidentForm(CheckedForm):
    """The GBVIMS guided questions in their order of precedence, then contexts and the narrative."""

    contexts = CheckboxesField(_l("Contexts (flags, not types)"))
    perpetrator_relationship = SelectField(_l("Perpetrator's relationship to her"), default="")
    narrative = TextAreaField(_l("What happened, in her words"), validators=[Optional(), Length(max=20000)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.contexts.choices = _choices(INCIDENT_CONTEXTS, INCIDENT_CONTEXT_LABELS)
        self.perpetrator_relationship.choices = _choices(PERPETRATOR_RELATIONSHIPS, PERPETRATOR_LABELS, NOT_RECORDED)

    def questions(self) -> list[Any]:
        return [getattr(self, f"q_{key}") for key in QUESTIONS]

    def answers(self) -> dict[str, bool]:
        return {key: getattr(self, f"q_{key}").data == "yes" for key in QUESTIONS}


for _key in QUESTIONS:
    setattr(
        IncidentForm,
        f"q_{_key}",
        RadioField(
            INCIDENT_QUESTIONS[_key],
            choices=_YES_NO,
            validators=[InputRequired(message=_l("Answer yes or no."))],
        ),
    )
