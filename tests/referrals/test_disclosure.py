"""What a referral discloses of a case, everywhere it is shown: the receiving side's page, the
API (`shared` of the referral, and a recipient's `GET /cases/{id}`), and the printed form and its
PDF. For every combination of shared field groups and of groups the survivor withheld from the
receiving organisation, all of them expose exactly the fields DOMAIN.md gives those groups (minus
the withheld ones), and nothing once the referral ends or its consent is withdrawn.

Every case field holds a value found nowhere else, so each rendering is checked by which values
it contains, as well as by the field keys it marks."""

from __future__ import annotations

import io
import json
import random
import re
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from pypdf import PdfReader

from referral.cases import consent as consents
from referral.cases import services as cases
from referral.cases.models import FIELD_GROUPS
from referral.extensions import db
from referral.referrals import disclosure
from referral.referrals import services as referrals
from referral.referrals.models import Referral
from tests.conftest import arabic, sign_in
from tests.helpers.api import auth_headers
from tests.helpers.cases import MARKER_ID, MARKER_PHONE, World, intake, user

# DOMAIN.md, "Field groups", by field key: written out here, not taken from the code under test.
EXPECTED: dict[str, set[str]] = {
    "identity": {"full_name", "national_id", "date_of_birth"},
    "contact": {"phone", "address", "safe_channels", "safe_hours", "contact_instructions"},
    "incident": {"narratives", "gbv_type", "perpetrator_relationship"},
    "assessment": {"needs", "risk_level", "safety_plan", "immediate_danger", "assessment_notes"},
    "notes": {"notes"},
}
# The API's older names for values also given field by field.
ALIASES = {"contact": {"safe_contact"}, "assessment": {"assessment"}}
# The text fields' values: each found nowhere else on a page, in a JSON answer or in a PDF.
TOKENS = {
    "identity.full_name": "TokFullName",
    "identity.national_id": MARKER_ID,
    "identity.date_of_birth": "1994-03-02",
    "contact.phone": MARKER_PHONE,
    "contact.address": "TokAddress",
    "contact.safe_hours": "TokSafeHours",
    "contact.contact_instructions": "TokInstructions",
    "incident.narratives": "TokNarrative",
    "assessment.needs": "TokNeed",
    "assessment.safety_plan": "TokSafetyPlan",
    "assessment.assessment_notes": "TokAssessNotes",
    "notes.notes": "TokCaseNote",
}
# The coded fields, shown by their label in the reader's language (Arabic here).
CODED = {
    "contact.safe_channels": "text messages",
    "incident.gbv_type": "Physical assault",
    "incident.perpetrator_relationship": "Intimate partner",
    "assessment.immediate_danger": "In immediate danger",
}
TITLES = {
    "identity": "Identity",
    "contact": "Contact",
    "incident": "Incident",
    "assessment": "Assessment",
    "notes": "Notes",
}
FIELD_MARK = re.compile(r'data-field="([a-z_]+\.[a-z_]+)"')
SUBSETS = [set(c) for n in range(1, len(FIELD_GROUPS) + 1) for c in combinations(FIELD_GROUPS, n)]


def _fields(groups: set[str]) -> set[str]:
    return {f"{g}.{key}" for g in groups for key in EXPECTED[g]}


@dataclass
class Combination:
    ticked: set[str]
    withheld: set[str]
    case_id: str = ""
    referral_id: str = ""
    consent_id: str = ""

    @property
    def shown(self) -> set[str]:
        return self.ticked - self.withheld


def _open_case(world: World) -> str:
    """A case with every field of every group filled with its token."""
    values = intake(
        world,
        full_name="Zubaida TokFullName",
        address="TokAddress",
        narrative="TokNarrative",
        gbv_type="physical_assault",
        perpetrator_relationship="intimate_partner",
        safe_contact={
            "safe_to_call": False,
            "safe_to_text": True,
            "safe_voicemail": False,
            "safe_hours": "TokSafeHours",
            "instructions": "TokInstructions",
        },
    )
    caseworker = user(world.mine.caseworker)
    case, _ = cases.create_case(db.session, caseworker, cases.CaseInput(values))
    cases.record_step_content(
        db.session,
        caseworker,
        case.id,
        "assessment",
        {"needs": ["TokNeed"], "risk_level": "high", "immediate_danger": True, "notes": "TokAssessNotes"},
    )
    cases.record_step_content(db.session, caseworker, case.id, "safety_plan", "TokSafetyPlan")
    cases.add_note(db.session, caseworker, case.id, "TokCaseNote")
    return str(case.id)


def _refer(world: World, combo: Combination) -> None:
    """Refer a fresh case with these groups ticked, on a consent that withholds `withheld` from
    the receiving organisation. A consent covers only what is not withheld, so a referral ticking
    a withheld group goes out on an override (a supervisor, a legal basis) with that consent."""
    combo.case_id = _open_case(world)
    caseworker = user(world.mine.caseworker)
    withheld = [{"organization_id": world.other.id, "field_groups": sorted(combo.withheld)}] if combo.withheld else []
    grant = consents.record_consent(
        db.session,
        caseworker,
        combo.case_id,
        consents.ConsentInput(
            given_by="survivor",
            method="verbal",
            organization_ids=[world.other.id],
            field_groups=list(FIELD_GROUPS),
            purpose="the service asked for",
            withheld=withheld,
        ),
    )
    combo.consent_id = grant.id
    override = bool(combo.ticked & combo.withheld)
    data = referrals.ReferralInput(
        case_id=combo.case_id,
        to_organization_id=world.other.id,
        priority="urgent",
        reason="the service asked for",
        field_groups=sorted(combo.ticked),
        consent_id=grant.id,
        override_legal_basis="threat_to_life" if override else None,
    )
    referral = referrals.create(db.session, caseworker, data, send=not override)
    if override:
        referrals.send_referral(db.session, user(world.mine.supervisor), referral.id)
    combo.referral_id = referral.id


def _combinations() -> list[Combination]:
    """Every non-empty set of ticked groups, once with nothing withheld and once with a withheld
    set drawn at random (fixed seed): some inside the ticked groups, some outside, some all of them."""
    draw = random.Random(20261204)
    found = []
    for ticked in SUBSETS:
        found.append(Combination(set(ticked), set()))
        withheld = {g for g in FIELD_GROUPS if draw.random() < 0.4} or {min(ticked)}
        found.append(Combination(set(ticked), withheld))
    return found


def _visible_tokens(text: str) -> set[str]:
    return {key for key, token in TOKENS.items() if token in text}


def _visible_coded(html: str, app: Flask) -> set[str]:
    return {key for key, label in CODED.items() if arabic(app, label) in html}


def _api_fields(shared: dict[str, Any]) -> set[str]:
    return {f"{g}.{key}" for g, values in shared.items() for key in values if key not in ALIASES.get(g, set())}


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _not_shared_line(app: Flask, groups: set[str]) -> str:
    names = "، ".join(arabic(app, TITLES[g]) for g in FIELD_GROUPS if g not in groups)
    return arabic(app, "Not shared with you: %(groups)s").replace("%(groups)s", names)


@dataclass
class Readers:
    receiver_page: FlaskClient
    sender_page: FlaskClient
    api: FlaskClient
    receiver_token: dict[str, str]


def _readers(app: Flask, world: World) -> Readers:
    receiver, sender = app.test_client(), app.test_client()
    sign_in(receiver, app, world.other.supervisor)
    sign_in(sender, app, world.mine.caseworker)
    return Readers(receiver, sender, app.test_client(), auth_headers(app, world.other.supervisor))


def test_every_combination_of_groups_and_withholding_shows_the_same_fields_everywhere(app: Flask, world: World) -> None:
    combos = _combinations()
    with app.app_context():
        for combo in combos:
            _refer(world, combo)
        db.session.commit()
    read = _readers(app, world)
    pdf_checked: set[frozenset[str]] = set()
    for combo in combos:
        expected = _fields(combo.shown)
        where = (sorted(combo.ticked), sorted(combo.withheld))

        page = read.receiver_page.get(f"/referrals/{combo.referral_id}")
        assert page.status_code == 200, where
        html = page.get_data(as_text=True)
        assert set(FIELD_MARK.findall(html)) == expected, where
        assert _visible_tokens(html) == expected & TOKENS.keys(), where
        assert _visible_coded(html, app) == expected & CODED.keys(), where
        if combo.shown and combo.shown != set(FIELD_GROUPS):
            assert _not_shared_line(app, combo.shown) in html, where
        assert ('data-testid="not-shared"' in html) == bool(combo.shown and combo.shown != set(FIELD_GROUPS))
        assert ('data-testid="nothing-shared"' in html) == (not combo.shown), where

        answer = read.api.get(f"/api/v1/referrals/{combo.referral_id}", headers=read.receiver_token).get_json()
        assert _api_fields(answer["shared"]) == expected, where
        assert _visible_tokens(json.dumps(answer["shared"], ensure_ascii=False)) == expected & TOKENS.keys(), where
        assert answer["not_shared"] == [g for g in FIELD_GROUPS if g not in combo.shown], where

        shared_case = read.api.get(f"/api/v1/cases/{combo.case_id}", headers=read.receiver_token)
        if combo.shown:
            body = shared_case.get_json()
            assert body["shared_field_groups"] == sorted(combo.shown), where
            assert _api_fields(body["shared"]) == expected and body["shared"] == answer["shared"], where
            assert body["not_shared"] == answer["not_shared"], where
        else:
            assert shared_case.status_code == 404, where  # a recipient who is shown nothing has no case

        printed = read.sender_page.get(f"/referrals/{combo.referral_id}/print")
        assert printed.status_code == 200, where
        sheet = printed.get_data(as_text=True)
        assert set(FIELD_MARK.findall(sheet)) == expected, where
        assert _visible_tokens(sheet) == expected & TOKENS.keys(), where
        assert _visible_coded(sheet, app) == expected & CODED.keys(), where

        # The PDF is drawn from the same sheet as the print view; drawing one takes half a second,
        # so it is checked once for each set of groups shown (all 31, and none).
        if frozenset(combo.shown) not in pdf_checked:
            pdf_checked.add(frozenset(combo.shown))
            pdf = read.sender_page.get(f"/referrals/{combo.referral_id}/print.pdf")
            assert pdf.status_code == 200 and pdf.mimetype == "application/pdf", where
            assert _visible_tokens(_pdf_text(pdf.data)) == expected & TOKENS.keys(), where
    assert len(pdf_checked) == len(SUBSETS) + 1


def _full(app: Flask, world: World) -> Combination:
    combo = Combination(set(FIELD_GROUPS), set())
    with app.app_context():
        _refer(world, combo)
        db.session.commit()
    return combo


def _assert_nothing_shown(app: Flask, read: Readers, combo: Combination) -> None:
    html = read.receiver_page.get(f"/referrals/{combo.referral_id}").get_data(as_text=True)
    assert FIELD_MARK.findall(html) == [] and _visible_tokens(html) == set()
    assert 'data-testid="nothing-shared"' in html and 'data-testid="not-shared"' not in html
    answer = read.api.get(f"/api/v1/referrals/{combo.referral_id}", headers=read.receiver_token).get_json()
    assert answer["shared"] == {} and answer["not_shared"] == list(FIELD_GROUPS)
    assert read.api.get(f"/api/v1/cases/{combo.case_id}", headers=read.receiver_token).status_code == 404
    for path in ("print", "print.pdf"):  # the form is not printed any more
        refused = read.sender_page.get(f"/referrals/{combo.referral_id}/{path}")
        assert refused.status_code == 303 and refused.headers["Location"].endswith(f"/referrals/{combo.referral_id}")


def test_nothing_is_shown_once_the_consent_is_withdrawn(app: Flask, world: World) -> None:
    combo = _full(app, world)
    read = _readers(app, world)
    page = read.receiver_page.get(f"/referrals/{combo.referral_id}").get_data(as_text=True)
    assert set(FIELD_MARK.findall(page)) == _fields(set(FIELD_GROUPS))  # everything, before
    assert 'data-testid="not-shared"' not in page
    with app.app_context():
        consents.withdraw(db.session, user(world.mine.caseworker), combo.consent_id)
        db.session.commit()
    _assert_nothing_shown(app, read, combo)


@pytest.mark.parametrize("ending", ["completed", "declined", "withdrawn"])
def test_nothing_is_shown_once_the_referral_ends(app: Flask, world: World, ending: str) -> None:
    combo = _full(app, world)
    with app.app_context():
        receiver, sender = user(world.other.supervisor), user(world.mine.caseworker)
        steps: list[tuple[Any, str, dict[str, str]]] = {
            "completed": [
                (receiver, "accepted", {}),
                (receiver, "in_progress", {}),
                (receiver, "completed", {"outcome": "done"}),
            ],
            "declined": [(receiver, "declined", {"reason": "no_capacity"})],
            "withdrawn": [(sender, "withdrawn", {"reason": "plan changed"})],
        }[ending]
        for who, to_state, extra in steps:
            referrals.transition(db.session, who, combo.referral_id, to_state, **extra)
        db.session.commit()
    _assert_nothing_shown(app, _readers(app, world), combo)


def test_the_service_gives_each_side_its_part(app: Flask, world: World, factory: Any) -> None:
    combo = Combination({"identity", "incident", "notes"}, {"notes"})
    third = factory.user("supervisor", factory.organization())
    with app.test_request_context():
        _refer(world, combo)
        db.session.commit()
        referral = db.session.get(Referral, combo.referral_id)
        receiving = disclosure.disclose(db.session, user(world.other.supervisor), referral)
        assert receiving.codes == {"identity", "incident"}
        assert receiving.not_shared == ("contact", "assessment", "notes")
        assert [f.key for f in receiving.groups[0].fields] == ["full_name", "national_id", "date_of_birth"]
        # the sending side reads the case file itself, and prints the same disclosure
        sending = disclosure.disclose(db.session, user(world.mine.caseworker), referral)
        assert sending.groups == () and sending.not_shared == receiving.not_shared
        printing = disclosure.disclose(db.session, user(world.mine.caseworker), referral, printing=True)
        assert printing == receiving
        # the receiving side does not print, and nobody else sees anything through it
        assert disclosure.disclose(db.session, user(world.other.supervisor), referral, printing=True).groups == ()
        assert disclosure.disclose(db.session, user(third), referral).groups == ()
        assert referrals.shared_groups(db.session, user(world.other.supervisor), referral) == {"identity", "incident"}
        # each incident's narrative, oldest first, a paragraph each
        cases.record_incident(db.session, user(world.mine.caseworker), combo.case_id, {}, [], None, "TokSecond")
        db.session.commit()
        incident = disclosure.disclose(db.session, user(world.other.supervisor), referral).groups[1].fields[0]
        assert incident.key == "narratives" and incident.value == ["TokNarrative", "TokSecond"]
        assert incident.lines == ("TokNarrative", "", "TokSecond")
        # the list of what was not shared: the Arabic comma in Arabic, a Latin one in English
        with force_locale("ar"):
            assert receiving.not_shared_names() == "، ".join(arabic(app, TITLES[g]) for g in receiving.not_shared)
        with force_locale("en"):
            assert receiving.not_shared_names() == "Contact, Assessment, Notes"


def test_the_sending_side_sees_what_its_referral_does_not_share_while_it_is_open(app: Flask, world: World) -> None:
    combo = Combination({"identity", "contact"}, {"contact"})  # contact withheld: sent on an override
    with app.app_context():
        _refer(world, combo)
        db.session.commit()
    read = _readers(app, world)
    page = read.sender_page.get(f"/referrals/{combo.referral_id}").get_data(as_text=True)
    names = "، ".join(arabic(app, TITLES[g]) for g in ("contact", "incident", "assessment", "notes"))
    assert arabic(app, "Not shared through this referral: %(groups)s").replace("%(groups)s", names) in page
    assert FIELD_MARK.findall(page) == []  # the sending side reads the case file itself, not this
    answer = read.api.get(f"/api/v1/referrals/{combo.referral_id}", headers=auth_headers(app, world.mine.caseworker))
    assert answer.get_json()["shared"] == {} and answer.get_json()["not_shared"] == [
        "contact",
        "incident",
        "assessment",
        "notes",
    ]
    with app.app_context():
        referrals.transition(db.session, user(world.mine.caseworker), combo.referral_id, "withdrawn", reason="moved")
        db.session.commit()
    page = read.sender_page.get(f"/referrals/{combo.referral_id}").get_data(as_text=True)
    assert 'data-testid="not-shared"' not in page
