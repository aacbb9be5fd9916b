"""Referrals to a provider outside the network: the same consent rules (by the provider's sector),
every step recorded by the sending side with a note, nobody else sees them, and a printable
form (page and PDF) that holds the case code and only the shared field groups."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from fontTools.ttLib import TTFont
from pypdf import PdfReader
from sqlalchemy import func, select, text

from referral.audit.models import AuditEvent
from referral.cases import consent as consents
from referral.cases.models import FIELD_GROUPS
from referral.errors import Forbidden, InvalidInput, NotFound
from referral.extensions import db
from referral.followups.models import Notification
from referral.referrals import services as referrals
from referral.referrals.models import Referral, ReferralTransition
from tests.conftest import Account, Factory, csrf, sign_in
from tests.helpers.cases import MARKER_ID, MARKER_NAME, MARKER_PHONE, World, open_case, user
from tests.helpers.referrals import PROVIDER, act, consent
from tests.helpers.referrals import external_referral as _external
from tests.helpers.referrals import health_consent as _health_consent

NARRATIVE = "Marker narrative of what happened"


def _sent(app: Flask, world: World, **extra: object) -> str:
    case_id = open_case(app, world)
    return _external(app, world, case_id, _health_consent(app, world, case_id), **extra)


# ------------------------------------------------------------------------------ consent
def test_an_external_provider_needs_a_consent_that_covers_its_sector(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with pytest.raises(referrals.ConsentRequired):
        _external(app, world, case_id, None)
    by_organisation = consent(app, world, case_id, field_groups=["contact"])  # names world.other only
    with pytest.raises(referrals.ConsentRequired) as refused:
        _external(app, world, case_id, by_organisation)
    assert refused.value.fields == {"external_sector": "not_covered_by_consent"}
    wrong_sector = _health_consent(app, world, case_id, sectors=["legal_aid"])
    with pytest.raises(referrals.ConsentRequired) as refused:
        _external(app, world, case_id, wrong_sector)
    assert refused.value.fields == {"external_sector": "not_covered_by_consent"}
    health = _health_consent(app, world, case_id)
    with pytest.raises(referrals.ConsentRequired) as refused:  # identity is not covered
        _external(app, world, case_id, health, field_groups=["contact", "identity"])
    assert refused.value.fields == {"field_groups": "not_covered_by_consent"}
    referral_id = _external(app, world, case_id, health)
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert referral.state == "sent" and referral.to_organization_id is None and referral.due_at is not None
        assert (referral.external_provider, referral.external_sector) == (PROVIDER, "health")
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 0  # nobody on Shabaka to tell
        sent = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "referral.send").order_by(AuditEvent.id))
        assert sent.details["external_sector"] == "health" and PROVIDER not in str(sent.details)


def test_withholding_names_organisations_so_it_does_not_reach_an_external_provider(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    grant = _health_consent(
        app, world, case_id, withheld=[{"organization_id": world.other.id, "field_groups": ["contact"]}]
    )
    assert _external(app, world, case_id, grant)


def test_an_override_with_a_legal_basis_works_as_for_members(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with pytest.raises(Forbidden):  # a caseworker may not override
        _external(app, world, case_id, None, override_legal_basis="threat_to_life")
    with app.app_context():
        from referral.cases.services import add_member

        add_member(db.session, user(world.mine.supervisor), case_id, world.mine.supervisor.id)
        db.session.commit()
    referral_id = _external(
        app, world, case_id, None, by=world.mine.supervisor, override_legal_basis="threat_to_life", priority="emergency"
    )
    with app.app_context():
        flagged = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "consent.override").order_by(AuditEvent.id)
        )
        assert flagged.object_id == referral_id and flagged.details["external_sector"] == "health"


def test_exactly_one_receiver(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    grant = _health_consent(app, world, case_id)
    with pytest.raises(InvalidInput) as refused:
        _external(app, world, case_id, grant, to_organization_id=world.other.id)
    assert refused.value.fields["external_provider"] == "exactly_one_receiver"
    with pytest.raises(InvalidInput) as refused:
        _external(app, world, case_id, grant, external_provider="  ", external_sector="nowhere")
    assert refused.value.fields == {"external_provider": "required", "external_sector": "invalid"}


def test_the_providers_name_is_encrypted_at_rest(app: Flask, world: World) -> None:
    _sent(app, world)
    with app.app_context():
        raw = db.session.execute(
            text("SELECT external_provider, external_sector FROM referral WHERE external_sector IS NOT NULL")
        ).one()
        assert PROVIDER.encode() not in bytes(raw[0]) and raw[1] == "health"


# ------------------------------------------------------------------------------ the sender's follow-up
def test_the_sender_records_each_step_with_a_note(app: Flask, world: World) -> None:
    referral_id = _sent(app, world)
    with pytest.raises(InvalidInput) as refused:
        act(app, world.mine.caseworker, referral_id, "accepted")
    assert refused.value.fields == {"note": "required_outside_network"}
    act(app, world.mine.caseworker, referral_id, "accepted", note="the hospital's social worker agreed by phone")
    act(app, world.mine.supervisor, referral_id, "in_progress", note="appointment kept")  # the owning supervisor
    with pytest.raises(InvalidInput) as refused:
        act(app, world.mine.caseworker, referral_id, "completed", note="report received")
    assert refused.value.fields == {"outcome": "required"}
    act(app, world.mine.caseworker, referral_id, "completed", outcome="examined", note="report received")
    with app.app_context():
        steps = list(
            db.session.scalars(
                select(ReferralTransition)
                .where(ReferralTransition.referral_id == referral_id)
                .order_by(ReferralTransition.at)
            )
        )
        assert [s.to_state for s in steps] == ["draft", "sent", "accepted", "in_progress", "completed"]
        assert steps[2].note == "the hospital's social worker agreed by phone" and steps[2].reason is None
        assert {s.organization_id for s in steps} == {world.mine.id}
        raw = db.session.execute(text("SELECT note FROM referral_transition WHERE note IS NOT NULL")).scalars().all()
        assert len(raw) == 3 and all(b"appointment" not in bytes(r) for r in raw)  # encrypted, not in the clear
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


@pytest.mark.parametrize(
    ("path", "last", "kwargs"),
    [
        (["declined"], "declined", {"reason": "no_capacity"}),
        (["accepted", "in_progress", "closed_unresolved"], "closed_unresolved", {"reason": "moved away"}),
        (["accepted", "withdrawn"], "withdrawn", {"reason": "safer elsewhere"}),
    ],
)
def test_declines_closures_and_withdrawals_need_their_reason_and_a_note(
    app: Flask, world: World, path: list[str], last: str, kwargs: dict[str, str]
) -> None:
    referral_id = _sent(app, world)
    for state in path[:-1]:
        act(app, world.mine.caseworker, referral_id, state, note=f"step {state}")
    with pytest.raises(InvalidInput) as refused:
        act(app, world.mine.caseworker, referral_id, last, **kwargs)
    assert refused.value.fields == {"note": "required_outside_network"}
    with pytest.raises(InvalidInput):
        act(app, world.mine.caseworker, referral_id, last, note="told by phone")
    act(app, world.mine.caseworker, referral_id, last, note="told by phone", **kwargs)
    with app.app_context():
        assert db.session.get(Referral, referral_id).state == last
        step = db.session.scalar(select(ReferralTransition).where(ReferralTransition.to_state == last))
        assert step.reason == (kwargs["reason"] if last == "declined" else None)  # the clear timeline: codes only
        assert "told by phone" in step.note


def test_nobody_else_may_move_it(app: Flask, world: World, factory: Factory) -> None:
    referral_id = _sent(app, world)
    third = factory.user("supervisor", factory.organization())
    for outsider in (world.other.supervisor, world.other.caseworker, third, world.mine.colleague):
        with pytest.raises(NotFound):
            act(app, outsider, referral_id, "accepted", note="pretending")
    with app.app_context():
        assert db.session.get(Referral, referral_id).state == "sent"


# ------------------------------------------------------------------------------ pages
def test_refer_to_a_provider_outside_the_network_and_follow_it_up_through_the_pages(
    client: FlaskClient, app: Flask, world: World
) -> None:
    case_id = open_case(app, world)
    grant = _health_consent(app, world, case_id)
    sign_in(client, app, world.mine.caseworker)
    page = f"/cases/{case_id}/referrals"
    form = {
        "csrf_token": csrf(client, page),
        "receiver_kind": "external",
        "external_provider": "",
        "external_sector": "health",
        "priority": "urgent",
        "field_groups": ["contact"],
        "consent_id": grant,
        "reason": "forensic examination",
    }
    missing = client.post(page, data=form)
    assert missing.status_code == 400 and "forensic examination" in missing.get_data(as_text=True)
    sent = client.post(page, data={**form, "external_provider": PROVIDER})
    assert sent.status_code == 303, sent.get_data(as_text=True)[:2000]
    referral_id = sent.headers["Location"].rsplit("/", 1)[1]
    shown = client.get(f"/referrals/{referral_id}").get_data(as_text=True)
    assert PROVIDER in shown and 'data-testid="act-accept"' in shown and 'data-testid="print-links"' in shown
    show = f"/referrals/{referral_id}"
    no_note = client.post(f"{show}/accept", data={"csrf_token": csrf(client, show)})
    assert no_note.status_code == 400
    accepted = client.post(f"{show}/accept", data={"csrf_token": csrf(client, show), "note": "agreed by phone"})
    assert accepted.status_code == 303
    after = client.get(show).get_data(as_text=True)
    assert "agreed by phone" in after and 'data-testid="act-start"' in after
    case_page = client.get(page).get_data(as_text=True)
    assert PROVIDER in case_page


def _print_client(app: Flask, account: Account) -> FlaskClient:
    client = app.test_client()
    sign_in(client, app, account)
    return client


def test_no_other_organisation_sees_an_external_referral(app: Flask, world: World, factory: Factory) -> None:
    referral_id = _sent(app, world)
    third = factory.user("supervisor", factory.organization())
    for outsider in (world.other.supervisor, world.other.caseworker, third):
        client = _print_client(app, outsider)
        for path in ("", "/print", "/print.pdf"):
            assert client.get(f"/referrals/{referral_id}{path}").status_code == 404
        assert referral_id not in client.get("/referrals?box=inbox").get_data(as_text=True)


def test_the_printed_form_holds_the_case_code_and_only_the_shared_groups(
    app: Flask, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    referral_id = _sent(app, world)
    client = _print_client(app, world.mine.caseworker)
    page = client.get(f"/referrals/{referral_id}/print")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    with app.app_context():
        code = db.session.get(Referral, referral_id).case_code
    assert code in html and PROVIDER in html and MARKER_PHONE in html and "forensic examination" in html
    for unshared in (MARKER_NAME, MARKER_ID, NARRATIVE, "<nav"):
        assert unshared not in html

    caplog.clear()
    pdf = client.get(f"/referrals/{referral_id}/print.pdf")
    assert not [r for r in caplog.records if r.name.startswith("fontTools")]  # its glyph lists hint at the text
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")
    assert pdf.headers["Cache-Control"] == "no-store"
    reader = PdfReader(io.BytesIO(pdf.data))
    extracted = "\n".join(p.extract_text() for p in reader.pages)
    assert code in extracted and MARKER_PHONE in extracted
    for unshared in (MARKER_NAME, MARKER_ID, NARRATIVE):
        assert unshared not in extracted and unshared.encode() not in pdf.data
    # The Arabic font travels inside the PDF, and the Arabic was shaped: the glyphs drawn include
    # contextual (initial, medial, final) forms, which unshaped text never uses.
    font = reader.pages[0]["/Resources"]["/Font"]
    embedded = [
        f.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object() for f in font.values()
    ]
    assert any("NotoNaskhArabic" in str(d["/FontName"]) and "/FontFile2" in d for d in embedded)
    glyphs = set()
    for descriptor in embedded:
        subset = TTFont(io.BytesIO(descriptor["/FontFile2"].get_object().get_data()))
        glyphs |= set(subset.getGlyphOrder())
    assert any(re.fullmatch(r"uniFE[89A-F][0-9A-F]", g) for g in glyphs)

    with app.app_context():
        printed = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.action == "referral.print").order_by(AuditEvent.id))
        )
        assert sorted(e.details["format"] for e in printed) == ["html", "pdf"]
        assert all(e.case_code == code and e.details["shared"] == "contact" for e in printed)


def test_only_the_case_team_prints_and_only_while_the_referral_is_open(
    app: Flask, world: World, factory: Factory
) -> None:
    referral_id = _sent(app, world)
    for off_team in (world.mine.colleague, world.mine.supervisor):  # the supervisor sees identifiers masked
        client = _print_client(app, off_team)
        assert client.get(f"/referrals/{referral_id}/print").status_code == 404
        assert client.get(f"/referrals/{referral_id}/print.pdf").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(AuditEvent.action == "referral.print")) == 0
        assert db.session.scalar(select(func.count()).where(AuditEvent.action == "access.denied")) >= 4
    team = _print_client(app, world.mine.caseworker)
    with app.app_context():
        grant = db.session.get(Referral, referral_id).consent_id
        consents.withdraw(db.session, user(world.mine.caseworker), grant)
        db.session.commit()
    refused = team.get(f"/referrals/{referral_id}/print.pdf")  # no new disclosure on a withdrawn consent
    assert refused.status_code == 303 and refused.headers["Location"].endswith(f"/referrals/{referral_id}")
    closed = _sent(app, world)
    act(app, world.mine.caseworker, closed, "withdrawn", reason="safer elsewhere", note="she asked")
    assert team.get(f"/referrals/{closed}/print").status_code == 303
    assert 'data-testid="print-links"' not in team.get(f"/referrals/{closed}").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(AuditEvent.action == "referral.print")) == 0


def test_a_transfer_ends_an_external_referral_quietly_and_keeps_only_its_record(
    app: Flask, world: World, factory: Factory
) -> None:
    from tests.helpers.referrals import accept_transfer, request_transfer

    case_id = open_case(app, world)
    referral_id = _external(app, world, case_id, _health_consent(app, world, case_id))
    act(app, world.mine.caseworker, referral_id, "accepted", note="agreed by the hospital's social worker")
    transfer_id = request_transfer(app, world, case_id, consent(app, world, case_id, field_groups=list(FIELD_GROUPS)))
    accept_transfer(app, world, transfer_id)
    with app.app_context():
        referral = db.session.get(Referral, referral_id)
        assert referral.state == "withdrawn"
        told = db.session.scalars(select(Notification).where(Notification.target_id == referral_id)).all()
        assert told == []  # nobody on Shabaka received it, nobody is told
    page = _print_client(app, world.mine.supervisor).get(f"/referrals/{referral_id}").get_data(as_text=True)
    assert 'data-testid="history-only"' in page
    assert PROVIDER not in page and "agreed by the hospital" not in page  # the record, not its free text
