"""Translated labels for codes, and the messages shown for error codes."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ROLE_LABELS = {
    "caseworker": _l("Caseworker"),
    "supervisor": _l("Supervisor"),
    "org_admin": _l("Organisation administrator"),
    "coordinator": _l("Network coordinator"),
    "auditor": _l("Auditor"),
    "sysadmin": _l("System administrator"),
}

KIND_LABELS = {"governmental": _l("Governmental"), "civil": _l("Civil society")}

SECTOR_LABELS = {
    "shelter": _l("Shelter"),
    "health": _l("Health"),
    "psychosocial": _l("Psychosocial support"),
    "social": _l("Social services"),
    "legal_aid": _l("Legal aid"),
    "police": _l("Police family protection"),
    "justice": _l("Prosecution and courts"),
    "economic": _l("Economic empowerment"),
    "other": _l("Other"),
}

LOCALE_LABELS = {"ar": "العربية", "en": "English"}

MESSAGES = {
    "not_protectable": _l(
        "These numbers cannot be released beside the releases already published for overlapping periods "
        "without giving a small count away. Choose a period that does not overlap them."
    ),
    "not_a_draft": _l("Only a draft can be submitted."),
    "not_in_review": _l("The release is not waiting for the members' approval."),
    "not_approved_by_all": _l("Every member organisation must approve the release before it is published."),
    "already_answered": _l("Your organisation has already answered."),
    "invalid_month": _l("Enter a real month: month and year."),
    "before_from": _l("The last month comes before the first."),
    "period_too_long": _l("A period is at most 36 months."),
    "too_early": _l("Statistics start in the year 2000."),
    "repeated": _l("Give this value once."),
    "too_long_text": _l("This text is too long."),
    "required": _l("This field is required."),
    "required_outside_network": _l("Write what the provider outside the network answered or did."),
    "invalid": _l("This value is not valid."),
    "taken": _l("This value is already in use."),
    "unknown": _l("Choose one of the listed options."),
    "invalid_username": _l("Use 3 to 64 lower-case letters, digits, dots, dashes or underscores."),
    "username_taken": _l("This username is already in use."),
    "invalid_role": _l("Choose one of the listed roles."),
    "invalid_email": _l("Enter a valid e-mail address."),
    "no_email_address": _l(
        "Your account has no e-mail address. Ask your organisation's administrator to add one first."
    ),
    "required_for_coordinator": _l("A coordinator needs a network."),
    "may_not_grant_role": _l("You may not grant this role."),
    "invalid_code": _l("The code is not valid. Enter the current code from your app, or a recovery code."),
    "invalid_credentials": _l("Invalid username or password."),
    "too_many_attempts": _l("Too many attempts. Wait a minute and try again."),
    "invalid_characters": _l(
        "This holds characters that are not allowed here: control characters, or characters that change "
        "the direction of the text."
    ),
    "identifier_in_url": _l(
        "A national ID or phone number may not be put in a page address. Type it in the search box instead."
    ),
    "not_a_user_search": _l("Search users by username or e-mail, never by a national ID or phone number."),
    "mismatch": _l("The two passwords do not match."),
    "wrong_password": _l("The current password is not correct."),
    "too_short": _l("Use at least 12 characters."),
    "too_long": _l("Use at most 128 characters."),
    "common": _l("This password is too common. Choose another."),
    "weak": _l("This password is too easy to guess. Add more words or characters."),
    "contains_username": _l("The password must not contain your username."),
    "unchanged": _l("Choose a password different from the current one."),
    "already_member": _l("This organisation is already a member of the network."),
    "invalid_days": _l("Choose between 1 and 365 days."),
    "invalid_date": _l("Enter a real date in the past: day, month and year."),
    "not_in_the_past": _l("Enter a real date in the past: day, month and year."),
    "unknown_field": _l("This value is not valid."),
    "invalid_transition": _l("The case cannot move to that step from its current step."),
    "case_closed": _l("This case is closed: reopen it before changing it."),
    "nothing_to_approve": _l("There is nothing waiting for approval at this step."),
    "author_cannot_approve": _l("You recorded this yourself: another supervisor must approve it."),
    "approval_required": _l("A supervisor must approve this first."),
    "required_for_high_risk": _l("A high-risk case needs a safety plan."),
    "invalid_cursor": _l("The page link is not valid. Start again from the first page."),
}

CASE_STATUS_LABELS = {
    "intake": _l("Intake"),
    "assessment": _l("Assessment"),
    "action_plan": _l("Action plan"),
    "implementation": _l("Implementation"),
    "follow_up": _l("Follow-up"),
    "closure_pending": _l("Closure pending"),
    "closed": _l("Closed"),
    "reopened": _l("Reopened"),
    "transferred": _l("Transferred"),
}

# What the button that moves a case to a step says.
MOVE_LABELS = {
    "assessment": _l("Move to assessment"),
    "action_plan": _l("Move to action plan"),
    "implementation": _l("Start implementation"),
    "follow_up": _l("Move to follow-up"),
    "closure_pending": _l("Request closure"),
    "reopened": _l("Reopen the case"),
}

RISK_LABELS = {"high": _l("High"), "medium": _l("Medium"), "low": _l("Low")}

SEX_LABELS = {"female": _l("Female"), "male": _l("Male")}

MARITAL_STATUS_LABELS = {
    "single": _l("Single"),
    "married": _l("Married"),
    "engaged": _l("Engaged"),
    "divorced": _l("Divorced"),
    "separated": _l("Separated"),
    "widowed": _l("Widowed"),
    "unknown": _l("Unknown"),
}

GBV_TYPE_LABELS = {
    "rape": _l("Rape"),
    "sexual_assault": _l("Sexual assault"),
    "physical_assault": _l("Physical assault"),
    "forced_marriage": _l("Forced marriage"),
    "denial_of_resources": _l("Denial of resources, opportunities or services"),
    "psychological_abuse": _l("Psychological or emotional abuse"),
    "non_gbv": _l("Not gender-based violence"),
}

PERPETRATOR_LABELS = {
    "intimate_partner": _l("Intimate partner"),
    "former_partner": _l("Former partner"),
    "family": _l("Family member"),
    "caregiver": _l("Caregiver"),
    "employer": _l("Employer"),
    "service_provider": _l("Service provider"),
    "neighbour_friend": _l("Neighbour or friend"),
    "community_member": _l("Community member"),
    "stranger": _l("Stranger"),
    "unknown": _l("Unknown"),
    "other": _l("Other"),
}

CLOSURE_REASON_LABELS = {
    "needs_met": _l("Her needs are met"),
    "no_contact_30_days": _l("No contact for over 30 days"),
    "survivor_request": _l("At the survivor's request"),
    "moved": _l("She moved away"),
    "transferred": _l("Transferred to another organisation"),
}

INCIDENT_CONTEXT_LABELS = {
    "intimate_partner_violence": _l("Intimate partner violence"),
    "early_marriage": _l("Early marriage"),
    "child_sexual_abuse": _l("Child sexual abuse"),
    "sexual_exploitation": _l("Sexual exploitation"),
    "conflict_related": _l("Conflict-related"),
    "online": _l("Online or technology-facilitated"),
}

CONSENT_METHOD_LABELS = {"written": _l("Written"), "verbal": _l("Verbal")}

# The GBVIMS guided questions, in the order of precedence (see cases/classification.py).
INCIDENT_QUESTIONS = {
    "penetration": _l(
        "Was there penetration, however slight, of the vagina, anus or mouth with a penis or other body part or object?"
    ),
    "sexual_contact": _l(
        "Was there any other unwanted sexual contact (touching, kissing, groping) without penetration?"
    ),
    "physical_violence": _l(
        "Was there non-sexual physical violence (hitting, slapping, choking, cutting, burning, a weapon)?"
    ),
    "forced_marriage": _l("Was she married against her will?"),
    "denial_of_resources": _l(
        "Was she denied resources, opportunities or services she is due (money, inheritance, schooling, care, work)?"
    ),
    "psychological_harm": _l(
        "Was she threatened, humiliated, isolated, controlled or otherwise harmed psychologically or emotionally?"
    ),
}

# Why a case cannot move yet: (field, code) the service named -> what to do about it.
STEP_REQUIREMENT_MESSAGES = {
    ("consent_for_services", "required"): _l(
        "First record that the survivor consented to services and that the limits of confidentiality were explained."
    ),
    ("assessment", "required"): _l("First record the assessment: her needs and the risk level."),
    ("action_plan", "approval_required"): _l("A supervisor must approve the action plan first."),
    ("safety_plan", "required_for_high_risk"): _l("A high-risk case needs a safety plan before implementation."),
    ("closure", "required"): _l("First complete the closure checklist."),
    ("closure", "approval_required"): _l("A supervisor closes the case by approving the closure."),
}


def message(code: str) -> str:
    return str(MESSAGES.get(code, MESSAGES["invalid"]))


def step_requirement(field: str, code: str) -> str:
    """What to do before a case can move on, for a requirement the service named."""
    found = STEP_REQUIREMENT_MESSAGES.get((field, code))
    return str(found) if found is not None else message(code)


# ------------------------------------------------------------------------------ service directory
CAPACITY_LABELS = {
    "available": _l("Available"),
    "limited": _l("Limited places"),
    "full": _l("Full"),
    "waitlist": _l("Waiting list"),
}

SERVICE_LANGUAGE_LABELS = {"ar": _l("Arabic"), "en": _l("English"), "he": _l("Hebrew")}

MESSAGES.update(
    {
        "front_door_required": _l(
            "A confidential location needs a front door: the public contact shown instead of the location."
        ),
        "invalid_focal_point": _l(
            "Each focal point needs a name and a phone number or a valid e-mail address (at most five)."
        ),
        "too_long_text": _l("This text is too long."),
        "invalid_service": _l("The service could not be saved: check the marked fields."),
    }
)

# referrals outside the network
MESSAGES.update(
    {
        "exactly_one_receiver": _l("Choose a member organisation or a provider outside the network, not both."),
        "not_covered_by_consent": _l("The consent chosen does not cover this."),
        "not_for_external_provider": _l("A provider outside the network has no listed services."),
        "referral_closed": _l("This referral is closed: its form can no longer be printed."),
        "consent_not_valid": _l("The consent this referral relies on has expired or was withdrawn."),
    }
)

MESSAGES.update(
    {
        "unknown_case": _l("No case has this code. Check the code and try again."),
        "reason_too_short": _l("Say why you need this case now, in at least 10 characters."),
        "own_case": _l("This case belongs to your organisation: open it from your case list."),
        "breakglass_active": _l("You already have emergency access to this case."),
        "breakglass_limit": _l(
            "You have reached the limit of emergency accesses for 24 hours. The auditors were told. "
            "Ask a supervisor of the case's organisation for access."
        ),
        "invalid_hours": _l("Choose one of the listed durations."),
    }
)

PRIORITY_LABELS = {
    "emergency": _l("Emergency (24 hours)"),
    "urgent": _l("Urgent (72 working hours)"),
    "normal": _l("Normal (14 working days)"),
}
REFERRAL_STATE_LABELS = {
    "draft": _l("Draft"),
    "sent": _l("Sent"),
    "accepted": _l("Accepted"),
    "declined": _l("Declined"),
    "in_progress": _l("In progress"),
    "completed": _l("Completed"),
    "closed_unresolved": _l("Closed unresolved"),
    "withdrawn": _l("Withdrawn"),
}
DECLINE_REASON_LABELS = {
    "no_capacity": _l("No capacity"),
    "not_eligible": _l("Not eligible"),
    "service_not_offered": _l("Service not offered"),
    "unable_to_contact_safely": _l("Unable to contact safely"),
    "survivor_declined": _l("The survivor declined"),
    "duplicate": _l("Duplicate"),
    "other": _l("Other"),
}
GIVER_LABELS = {"survivor": _l("The survivor"), "caregiver": _l("A caregiver")}
FIELD_GROUP_NAMES = {
    "identity": _l("Identity (name, ID number, date of birth)"),
    "contact": _l("Contact (phone, address, safe-contact instructions)"),
    "incident": _l("Incident (narrative, type, perpetrator)"),
    "assessment": _l("Assessment (needs, risk, safety plan)"),
    "notes": _l("Notes"),
}
TRANSFER_STATE_LABELS = {
    "requested": _l("Waiting for an answer"),
    "accepted": _l("Accepted"),
    "declined": _l("Declined"),
    "cancelled": _l("Cancelled"),
}
LEGAL_BASIS_LABELS = {
    "child_protection": _l("Child protection"),
    "threat_to_life": _l("Threat to life"),
}
MESSAGES.update(
    {
        "own_organization": _l("Choose another organisation than your own."),
        "no_supervisor": _l("This organisation has no supervisor who could accept the case."),
        "expired_or_withdrawn": _l("This consent is no longer in force."),
        "not_covered_by_consent": _l(
            "This consent does not reach that organisation for every part of the case, "
            "or something is withheld from it."
        ),
        "consent_required": _l("Choose a consent in force, or record a legal basis."),
        "transfer_pending": _l("A transfer of this case is already waiting for an answer."),
        "override_not_allowed": _l("Only a supervisor may transfer without consent."),
        "case_moved_meanwhile": _l("The case changed hands meanwhile."),
        "only_the_receiver": _l("Only the receiving organisation's supervisors may answer."),
        "only_the_requesting_side": _l("Only the requesting side may cancel."),
    }
)

# Python weekday numbers (Monday = 0), listed from Saturday as the week is read locally.
WEEKDAY_LABELS = {
    5: _l("Saturday"),
    6: _l("Sunday"),
    0: _l("Monday"),
    1: _l("Tuesday"),
    2: _l("Wednesday"),
    3: _l("Thursday"),
    4: _l("Friday"),
}
MESSAGES.update(
    {
        "invalid_weekend": _l("Leave at least one working day in the week."),
        "invalid_time_zone": _l("Enter a time zone name such as Asia/Hebron."),
        "invalid_holiday_date": _l("Enter a real date: day, month and year."),
        "holiday_taken": _l("This date is already a holiday on this calendar."),
        "invalid_calendar": _l("The calendar could not be saved: check the marked fields."),
        "invalid_holiday": _l("The holiday could not be added: check the marked fields."),
    }
)


# ------------------------------------------------------------------------------ the receiving side's work
MESSAGES.update(
    {
        "referral_not_in_service": _l(
            "Progress is recorded, and a case file opened, only while the referral is accepted or in progress."
        ),
        "case_already_opened": _l("Your organisation has already opened its own case file from this referral."),
        "log_too_long": _l("This is too long: shorten it."),
    }
)

# The governorates by their codes (Network.governorate, Case.governorate): what a case form
# lists and a case shows, rather than the name of the network that serves the governorate.
GOVERNORATE_LABELS = {
    "jenin": _l("Jenin"),
    "tubas": _l("Tubas"),
    "tulkarm": _l("Tulkarm"),
    "nablus": _l("Nablus"),
    "qalqilya": _l("Qalqilya"),
    "salfit": _l("Salfit"),
    "ramallah": _l("Ramallah and al-Bireh"),
    "jericho": _l("Jericho"),
    "jerusalem": _l("Jerusalem"),
    "bethlehem": _l("Bethlehem"),
    "hebron": _l("Hebron"),
    "north_gaza": _l("North Gaza"),
    "gaza": _l("Gaza"),
    "deir_al_balah": _l("Deir al-Balah"),
    "khan_yunis": _l("Khan Yunis"),
    "rafah": _l("Rafah"),
}
MESSAGES.update(
    {
        "invalid_national_id": _l(
            "A national ID number has 9 digits and a valid check digit: "
            "check it, or leave the field empty if it is not known."
        ),
        "national_id_check_digit": _l(
            "A national ID number has 9 digits and a valid check digit: "
            "check it, or leave the field empty if it is not known."
        ),
        "invalid_phone": _l(
            "Enter a Palestinian mobile (059… or 056…) or landline (02, 04, 08 or 09 and 7 digits) number, "
            "or the same with +970 or +972."
        ),
    }
)
