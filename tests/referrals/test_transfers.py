"""Case transfer: consent enforced like a referral's but for the whole case; only the receiving
supervisors accept; acceptance moves the case and everything it owns under the new
organisation's key in one transaction; the old organisation keeps only its records."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.audit.models import AuditEvent
from referral.cases import consent as consents
from referral.cases import documents, ownership
from referral.cases import services as cases
from referral.cases.models import FIELD_GROUPS, Case, CaseDocument, CaseMember
from referral.directory.models import Network
from referral.errors import Conflict, Forbidden, InvalidInput, NotFound
from referral.extensions import db
from referral.followups.models import Notification
from referral.models_base import utcnow
from referral.referrals import services as referrals
from referral.referrals import transfers
from referral.referrals.models import CaseTransfer, Referral
from referral.security.crypto import Context, DecryptionError
from referral.storage import EXTENSION, FileSystemStorage
from tests.conftest import Account, Factory, csrf, csrf_from, sign_in, within
from tests.helpers.api import bearer, raw_token
from tests.helpers.cases import MARKER_ID, MARKER_NAME, World, open_case, user
from tests.helpers.referrals import REASON, accept_transfer, act, consent, refer, request_transfer

NOTE = "Marker note Qx7 about the shelter"
FILE_MARKER = b"Marker-file-bytes-Qx7"
REPORT_NOTE = "Marker report note Qx7"
ALL_GROUPS = list(FIELD_GROUPS)


# ---------------------------------------------------------------------------------- helpers
@pytest.fixture
def third(app: Flask, factory: Factory, world: World) -> Account:
    """A supervisor of a third organisation in the same network."""
    with within(app):
        net = db.session.scalar(select(Network).where(Network.governorate == world.governorate))
        db.session.expunge(net)
    return factory.user("supervisor", factory.organization(net))


@pytest.fixture
def storage(app: Flask) -> FileSystemStorage:
    store = app.extensions[EXTENSION]
    assert isinstance(store, FileSystemStorage)
    return store


def _files(store: FileSystemStorage) -> set[Path]:
    return {p for p in store.root.rglob("*") if p.is_file()} if store.root.exists() else set()


def _full_consent(app: Flask, world: World, case_id: str, **extra: Any) -> str:
    values: dict[str, Any] = {"field_groups": ALL_GROUPS, "given_by": "caregiver", "minor_assent": True}
    values.update(extra)
    return consent(app, world, case_id, **values)


def _rich_case(app: Flask, world: World) -> dict[str, str]:
    """A child's case with everything a case can own: identifiers, an incident, a note, step
    content, consents, a mandatory report, a document, and referrals of the old owner."""
    case_id = open_case(app, world, age_group="12-17")
    worker = world.mine.caseworker
    with within(app):
        actor = user(worker)
        cases.add_note(db.session, actor, case_id, NOTE)
        cases.record_step_content(
            db.session,
            actor,
            case_id,
            "consent_for_services",
            {"given": True, "method": "verbal", "limits_explained": True},
        )
        consents.record_mandatory_report(
            db.session,
            actor,
            case_id,
            authority="Child protection counsellor",
            reported_on=utcnow().date().isoformat(),
            told_first="caregiver",
            notes=REPORT_NOTE,
        )
        document = documents.upload(
            db.session,
            actor,
            case_id,
            "Medical report Qx7",
            "assessment",
            io.BytesIO(b"%PDF-1.7\n" + FILE_MARKER + b"\n%%EOF"),
        )
        db.session.commit()
        document_id = document.id
    consent_id = _full_consent(app, world, case_id)
    open_referral = refer(app, world, case_id, consent_id, field_groups=["identity"])
    done = refer(app, world, case_id, consent_id, field_groups=["contact"])
    act(app, world.other.supervisor, done, "accepted")
    act(app, world.other.supervisor, done, "in_progress")
    act(app, world.other.supervisor, done, "completed", outcome="Marker outcome Qx7")
    return {
        "case": case_id,
        "consent": consent_id,
        "document": document_id,
        "open_referral": open_referral,
        "done_referral": done,
    }


ENCRYPTED = {  # table -> (column, condition column)
    "case_file": ("full_name", "id"),
    "incident": ("narrative", "case_id"),
    "case_note": ("body", "case_id"),
    "consent": ("purpose", "case_id"),
    "mandatory_report": ("notes", "case_id"),
    "case_document": ("title", "case_id"),
}


def _table(name: str) -> Any:
    return db.metadata.tables[name]


def _raw(app: Flask, case_id: str) -> dict[str, list[tuple[str, bytes]]]:
    """The stored ciphertext of each table's encrypted column, by row id."""
    with within(app):
        out = {}
        for name, (column, where) in ENCRYPTED.items():
            table = _table(name)
            rows = db.session.execute(
                select(table.c.id, table.c[column]).where(table.c[where] == case_id).order_by(table.c.id)
            ).all()
            out[name] = [(str(r[0]), r[1].blob) for r in rows if r[1] is not None]
        return out


def _snapshot(app: Flask, case_id: str) -> dict[str, Any]:
    with within(app):
        case, member, referral = _table("case_file"), _table("case_member"), _table("referral")
        document, transition = _table("case_document"), _table("case_transition")
        row = db.session.execute(
            select(
                case.c.organization_id, case.c.owner_id, case.c.status, case.c.version, case.c.national_id_index
            ).where(case.c.id == case_id)
        ).one()
        return {
            "case": tuple(row),
            "members": sorted(
                tuple(m)
                for m in db.session.execute(select(member.c.user_id, member.c.role).where(member.c.case_id == case_id))
            ),
            "referrals": sorted(
                tuple(r)
                for r in db.session.execute(
                    select(referral.c.id, referral.c.state).where(referral.c.case_id == case_id)
                )
            ),
            "files": sorted(db.session.scalars(select(document.c.storage_key).where(document.c.case_id == case_id))),
            "steps": len(db.session.execute(select(transition.c.id).where(transition.c.case_id == case_id)).all()),
            "raw": _raw(app, case_id),
        }


def _download(app: Flask, account: Account, document_id: str) -> bytes:
    with within(app):
        found = documents.download(db.session, user(account), document_id)
        return b"".join(found.chunks)


# ---------------------------------------------------------------------------------- consent
def test_a_transfer_needs_a_consent_in_force_for_the_whole_case(app: Flask, world: World, third: Account) -> None:
    case_id = open_case(app, world)
    with pytest.raises(referrals.ConsentRequired):
        request_transfer(app, world, case_id, None)
    partial = consent(app, world, case_id)  # identity, contact, incident only
    with pytest.raises(referrals.ConsentRequired):
        request_transfer(app, world, case_id, partial)
    elsewhere = consent(app, world, case_id, field_groups=ALL_GROUPS, organization_ids=[third.organization_id])
    with pytest.raises(referrals.ConsentRequired):
        request_transfer(app, world, case_id, elsewhere)
    withheld = consent(
        app,
        world,
        case_id,
        field_groups=ALL_GROUPS,
        withheld=[{"organization_id": world.other.id, "field_groups": ["notes"]}],
    )
    with pytest.raises(referrals.ConsentRequired):
        request_transfer(app, world, case_id, withheld)
    withdrawn = consent(app, world, case_id, field_groups=ALL_GROUPS)
    with within(app):
        consents.withdraw(db.session, user(world.mine.caseworker), withdrawn)
        db.session.commit()
    with pytest.raises(referrals.ConsentRequired):
        request_transfer(app, world, case_id, withdrawn)
    short = consent(app, world, case_id, field_groups=ALL_GROUPS, expires_at=utcnow() + timedelta(days=2))
    with time_machine.travel(utcnow() + timedelta(days=3)), pytest.raises(referrals.ConsentRequired):
        request_transfer(app, world, case_id, short)
    with within(app):
        assert db.session.scalar(select(CaseTransfer.id)) is None
    by_sector = consent(app, world, case_id, organization_ids=[], sectors=["legal_aid"], field_groups=ALL_GROUPS)
    transfer_id = request_transfer(app, world, case_id, by_sector)
    with within(app):
        transfer = db.session.get(CaseTransfer, transfer_id)
        assert transfer.state == "requested" and transfer.consent_id == by_sector and transfer.reason == REASON
        assert transfer.from_organization_id == world.mine.id and transfer.to_organization_id == world.other.id
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "case.transfer_request").order_by(AuditEvent.id)
        )
        assert event.object_id == transfer_id and REASON not in str(event.details)


def test_an_override_needs_a_supervisor_and_a_legal_basis_and_is_flagged(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with pytest.raises(Forbidden):
        request_transfer(app, world, case_id, None, override_legal_basis="threat_to_life")
    with pytest.raises(InvalidInput):
        request_transfer(app, world, case_id, None, by=world.mine.supervisor, override_legal_basis="convenience")
    transfer_id = request_transfer(
        app, world, case_id, None, by=world.mine.supervisor, override_legal_basis="threat_to_life"
    )
    with within(app):
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "consent.override").order_by(AuditEvent.id)
        )
        assert event.object_id == transfer_id and event.details["legal_basis"] == "threat_to_life"
        assert db.session.get(CaseTransfer, transfer_id).override_legal_basis == "threat_to_life"


def test_who_may_ask_and_one_waiting_transfer_per_case(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    consent_id = _full_consent(app, world, case_id, given_by="survivor", minor_assent=None)
    with pytest.raises(NotFound):  # not on the case team
        request_transfer(app, world, case_id, consent_id, by=world.mine.colleague)
    with pytest.raises(NotFound):  # another organisation
        request_transfer(app, world, case_id, consent_id, by=world.other.supervisor)
    first = request_transfer(app, world, case_id, consent_id)
    with pytest.raises(Conflict):
        request_transfer(app, world, case_id, consent_id, by=world.mine.supervisor)
    with within(app), pytest.raises(Forbidden):
        transfers.cancel(db.session, user(world.other.supervisor), first)
    with within(app):
        assert transfers.cancel(db.session, user(world.mine.supervisor), first).state == "cancelled"
        db.session.commit()
    request_transfer(app, world, case_id, consent_id)  # a new request once the first has ended


# ---------------------------------------------------------------------------------- who answers
def test_only_the_receiving_organisations_supervisor_answers(
    app: Flask, client: FlaskClient, world: World, third: Account
) -> None:
    case_id = open_case(app, world)
    transfer_id = request_transfer(
        app, world, case_id, _full_consent(app, world, case_id, given_by="survivor", minor_assent=None)
    )
    with pytest.raises(Forbidden):
        accept_transfer(app, world, transfer_id, by=world.mine.supervisor, owner=world.mine.caseworker.id)
    with pytest.raises(NotFound):  # a receiving caseworker does not see it
        accept_transfer(app, world, transfer_id, by=world.other.caseworker)
    with pytest.raises(NotFound):
        accept_transfer(app, world, transfer_id, by=third)
    with within(app), pytest.raises(NotFound):
        transfers.decline(db.session, user(third), transfer_id, "no_capacity")
    sign_in(client, app, third)
    assert client.get(f"/transfers/{transfer_id}").status_code == 404
    for box in ("incoming", "outgoing"):
        assert world.mine.id not in client.get(f"/transfers?box={box}").get_data(as_text=True)
        assert transfer_id not in client.get(f"/transfers?box={box}").get_data(as_text=True)
    with within(app):
        assert db.session.get(CaseTransfer, transfer_id).state == "requested"
        assert db.session.get(Case, case_id).organization_id == world.mine.id


# ---------------------------------------------------------------------------------- acceptance
def test_after_acceptance_the_new_organisation_owns_and_reads_everything(
    app: Flask, world: World, storage: FileSystemStorage
) -> None:
    ids = _rich_case(app, world)
    before = _snapshot(app, ids["case"])
    old_files = {storage.path(key) for key in before["files"]}
    transfer_id = request_transfer(app, world, ids["case"], ids["consent"])
    accept_transfer(app, world, transfer_id)

    with within(app):
        new_owner = user(world.other.caseworker)
        case = cases.view_case(db.session, new_owner, ids["case"])
        assert case.organization_id == world.other.id and case.owner_id == new_owner.id
        assert case.full_name.startswith(MARKER_NAME) and case.national_id == MARKER_ID
        assert case.consent_for_services["given"] is True
        assert [i.narrative for i in case.incidents] == ["Marker narrative of what happened"]
        assert [n.body for n in cases.notes(db.session, case)] == [NOTE]
        assert all(c.purpose == "legal aid for custody" for c in consents.consents(db.session, case))
        assert [r.notes for r in consents.mandatory_reports(db.session, case)] == [REPORT_NOTE]
        assert [d.title for d in documents.list_documents(db.session, case)] == ["Medical report Qx7"]
        assert [(m.user_id, m.role) for m in case.members] == [(new_owner.id, "owner")]
        assert [t.reason for t in cases.transitions(db.session, case)][-1] == "transferred"
        found = cases.list_cases(db.session, new_owner, identifier=MARKER_ID)  # the blind index follows the owner
        assert [c.id for c in found.items] == [ids["case"]]
        assert cases.list_cases(db.session, user(world.mine.supervisor), identifier=MARKER_ID).items == []
        transfer = db.session.get(CaseTransfer, transfer_id)
        assert transfer.state == "accepted" and transfer.new_owner_id == new_owner.id
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "case.transfer").order_by(AuditEvent.id)
        )
        assert event.case_code == case.case_code and event.details["transfer_id"] == transfer_id
        told = db.session.scalars(select(Notification.kind).where(Notification.user_id == world.mine.caseworker.id))
        assert "case.transfer_answered" in set(told)
    assert FILE_MARKER in _download(app, world.other.caseworker, ids["document"])
    assert not (old_files & _files(storage))  # the old files are gone once the move committed

    for account in (world.mine.caseworker, world.mine.supervisor):
        with within(app), pytest.raises(NotFound):
            cases.view_case(db.session, user(account), ids["case"])
        with within(app), pytest.raises(NotFound):
            documents.download(db.session, user(account), ids["document"])


def test_the_stored_ciphertext_is_sealed_for_the_new_owner(
    app: Flask, world: World, storage: FileSystemStorage
) -> None:
    ids = _rich_case(app, world)
    before = _raw(app, ids["case"])
    with within(app):
        old_key = db.session.get(CaseDocument, ids["document"]).storage_key
    accept_transfer(app, world, request_transfer(app, world, ids["case"], ids["consent"]))
    after = _raw(app, ids["case"])
    with within(app):
        cipher = app.extensions["shabaka"].cipher
        for table, (column, _) in ENCRYPTED.items():
            assert after[table], table
            assert dict(after[table]) != dict(before[table]), table
            for row_id, blob in after[table]:
                assert dict(before[table])[row_id] != blob
                with pytest.raises(DecryptionError):
                    cipher.decrypt(blob, Context(table, column, row_id, world.mine.id))
                cipher.decrypt(blob, Context(table, column, row_id, world.other.id))
        document = db.session.get(CaseDocument, ids["document"])
        assert document.storage_key != old_key and document.organization_id == world.other.id
        from referral.runtime import runtime
        from referral.security.crypto import decrypt_stream

        keyring = runtime().keyring
        with storage.open(document.storage_key) as handle, pytest.raises(DecryptionError):
            b"".join(decrypt_stream(handle, keyring.key, documents.document_context(document.id, world.mine.id)))


def test_the_old_organisation_keeps_only_its_records(app: Flask, world: World, third: Account) -> None:
    ids = _rich_case(app, world)
    transfer_id = request_transfer(app, world, ids["case"], ids["consent"])
    accept_transfer(app, world, transfer_id)
    case_id = ids["case"]
    with within(app):
        code = db.session.get(Case, case_id).case_code
        document_id = ids["document"]
        opened = db.session.get(Referral, ids["open_referral"])
        assert opened.state == "withdrawn" and opened.transitions[-1].reason == "transferred"
        assert referrals.shared_groups(db.session, user(world.other.supervisor), opened) == set()
        assert db.session.get(Referral, ids["done_referral"]).state == "completed"
        assert {r.from_organization_id for r in db.session.scalars(select(Referral))} == {world.mine.id}

    for account in (world.mine.caseworker, world.mine.supervisor):
        web = app.test_client()
        sign_in(web, app, account)
        for path in (
            f"/cases/{case_id}",
            f"/cases/{case_id}/edit",
            f"/cases/{case_id}/documents",
            f"/cases/{case_id}/referrals",
            f"/cases/{case_id}/transfer",
            f"/documents/{document_id}/download",
        ):
            assert web.get(path).status_code == 404, path
        token = csrf(web, "/transfers?box=outgoing")
        assert web.post(f"/cases/{case_id}/reveal", data={"csrf_token": token}).status_code == 404
        assert web.post(f"/cases/{case_id}/notes", data={"csrf_token": token, "note-body": "x"}).status_code == 404
        listing = web.get("/transfers?box=outgoing").get_data(as_text=True)
        assert code in listing and MARKER_NAME not in listing and REASON not in listing
        record = web.get(f"/transfers/{transfer_id}").get_data(as_text=True)
        assert code in record and REASON not in record and MARKER_NAME not in record
        outbox = web.get("/referrals?box=outbox").get_data(as_text=True)
        assert ids["done_referral"] in outbox and ids["open_referral"] in outbox
        page = web.get(f"/referrals/{ids['done_referral']}")
        assert page.status_code == 200
        shown = page.get_data(as_text=True)
        assert "Marker outcome Qx7" not in shown and "needs legal representation" not in shown
        assert MARKER_NAME not in shown and f"/cases/{case_id}" not in shown
        cases_page = web.get("/cases").get_data(as_text=True)
        assert code not in cases_page
        headers = bearer(raw_token(app, account.id))
        assert web.get(f"/api/v1/cases/{case_id}", headers=headers).status_code == 404
        api_referral = web.get(f"/api/v1/referrals/{ids['done_referral']}", headers=headers)
        assert api_referral.status_code == 200
        body = api_referral.get_json()
        assert body["reason"] is None and body["outcome"] is None and body["shared"] == {}

    new = app.test_client()
    sign_in(new, app, world.other.caseworker)
    assert new.get(f"/cases/{case_id}").status_code == 200
    revealed = new.post(f"/cases/{case_id}/reveal", data={"csrf_token": csrf(new, f"/cases/{case_id}")})
    assert MARKER_NAME in revealed.get_data(as_text=True)
    assert FILE_MARKER in new.get(f"/documents/{document_id}/download").get_data()
    headers = bearer(raw_token(app, world.other.caseworker.id))
    assert new.get(f"/api/v1/cases/{case_id}", headers=headers).get_json()["full_name"].startswith(MARKER_NAME)
    own_referrals = new.get(f"/cases/{case_id}/referrals").get_data(as_text=True)
    assert ids["done_referral"] not in own_referrals  # the old owner's referrals stay its history


# ---------------------------------------------------------------------------------- nothing changes
def test_a_decline_leaves_everything_as_it_was(app: Flask, world: World) -> None:
    ids = _rich_case(app, world)
    transfer_id = request_transfer(app, world, ids["case"], ids["consent"])
    before = _snapshot(app, ids["case"])
    with within(app), pytest.raises(InvalidInput):
        transfers.decline(db.session, user(world.other.supervisor), transfer_id, "because")
    with within(app):
        transfers.decline(db.session, user(world.other.supervisor), transfer_id, "no_capacity")
        db.session.commit()
    assert _snapshot(app, ids["case"]) == before
    with within(app):
        transfer = db.session.get(CaseTransfer, transfer_id)
        assert transfer.state == "declined" and transfer.decline_reason == "no_capacity"
        assert db.session.scalar(
            select(AuditEvent.id).where(AuditEvent.action == "case.transfer_decline").order_by(AuditEvent.id)
        )
        assert cases.view_case(db.session, user(world.mine.caseworker), ids["case"]).full_name.startswith(MARKER_NAME)
        told = db.session.scalars(select(Notification.kind).where(Notification.user_id == world.mine.caseworker.id))
        assert "case.transfer_answered" in set(told)
    with pytest.raises(referrals.InvalidTransition):
        accept_transfer(app, world, transfer_id)


@pytest.mark.parametrize("owner", ["org_admin", "other_org", "malformed"])
def test_an_invalid_new_owner_changes_nothing(app: Flask, world: World, storage: FileSystemStorage, owner: str) -> None:
    ids = _rich_case(app, world)
    transfer_id = request_transfer(app, world, ids["case"], ids["consent"])
    before, files = _snapshot(app, ids["case"]), _files(storage)
    chosen = {"org_admin": world.other.org_admin.id, "other_org": world.mine.caseworker.id, "malformed": "x'--"}[owner]
    with pytest.raises(InvalidInput):
        accept_transfer(app, world, transfer_id, owner=chosen)
    assert _snapshot(app, ids["case"]) == before and _files(storage) == files
    with within(app):
        assert db.session.get(CaseTransfer, transfer_id).state == "requested"


def test_a_failure_half_way_through_the_move_leaves_the_database_and_the_files_as_they_were(
    app: Flask, world: World, storage: FileSystemStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _rich_case(app, world)
    transfer_id = request_transfer(app, world, ids["case"], ids["consent"])
    before, files = _snapshot(app, ids["case"]), _files(storage)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(ownership, "_transition_row", broken)  # after files and rows were sealed again
    with within(app), pytest.raises(RuntimeError):
        try:
            transfers.accept(db.session, user(world.other.supervisor), transfer_id, world.other.caseworker.id)
        finally:
            db.session.rollback()
    assert _snapshot(app, ids["case"]) == before and _files(storage) == files
    assert FILE_MARKER in _download(app, world.mine.caseworker, ids["document"])
    monkeypatch.undo()
    accept_transfer(app, world, transfer_id)  # and it can still succeed afterwards
    assert FILE_MARKER in _download(app, world.other.caseworker, ids["document"])


def test_a_consent_withdrawn_before_the_answer_stops_the_transfer(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    consent_id = _full_consent(app, world, case_id, given_by="survivor", minor_assent=None)
    transfer_id = request_transfer(app, world, case_id, consent_id)
    with within(app):
        consents.withdraw(db.session, user(world.mine.caseworker), consent_id)
        db.session.commit()
    with pytest.raises(referrals.ConsentRequired):
        accept_transfer(app, world, transfer_id)
    with within(app):
        assert db.session.get(Case, case_id).organization_id == world.mine.id


def test_every_model_that_owns_case_data_moves_unless_it_is_a_record_of_the_old_owner() -> None:
    moving = {cls.__tablename__ for cls in ownership.moving_models()}
    assert {"incident", "case_note", "consent", "mandatory_report", "case_document"} <= moving
    assert not moving & {"referral", "case_transfer"}


# ---------------------------------------------------------------------------------- pages
def test_transfer_through_the_pages(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    consent_id = _full_consent(app, world, case_id, given_by="survivor", minor_assent=None)
    owner = app.test_client()
    sign_in(owner, app, world.mine.caseworker)
    assert f"/cases/{case_id}/transfer" in owner.get(f"/cases/{case_id}").get_data(as_text=True)
    page = f"/cases/{case_id}/transfer"
    form = owner.get(page).get_data(as_text=True)
    assert consent_id in form and 'name="override_legal_basis"' not in form  # no override for a caseworker
    supervisor = app.test_client()
    sign_in(supervisor, app, world.mine.supervisor)
    assert 'name="override_legal_basis"' in supervisor.get(page).get_data(as_text=True)
    refused = owner.post(
        page, data={"csrf_token": csrf(owner, page), "to_organization_id": world.other.id, "reason": REASON}
    )
    assert refused.status_code == 400 and REASON in refused.get_data(as_text=True)  # input kept
    sent = owner.post(
        page,
        data={
            "csrf_token": csrf(owner, page),
            "to_organization_id": world.other.id,
            "reason": REASON,
            "consent_id": consent_id,
        },
    )
    assert sent.status_code == 303, sent.get_data(as_text=True)[:2000]
    transfer_id = sent.headers["Location"].rsplit("/", 1)[1]

    receiver = app.test_client()
    sign_in(receiver, app, world.other.supervisor)
    incoming = receiver.get("/transfers?box=incoming").get_data(as_text=True)
    assert transfer_id in incoming and MARKER_NAME not in incoming
    with within(app):
        note = db.session.scalar(select(Notification).where(Notification.user_id == world.other.supervisor.id))
        assert note.kind == "case.transfer_requested" and note.target_type == "transfer"
    assert receiver.get(f"/notifications/{note.id}").headers["Location"].endswith(f"/transfers/{transfer_id}")
    shown = receiver.get(f"/transfers/{transfer_id}").get_data(as_text=True)
    assert REASON in shown and world.other.caseworker.username in shown
    token = csrf_from(shown)
    bad = receiver.post(
        f"/transfers/{transfer_id}/accept", data={"csrf_token": token, "new_owner_id": world.mine.caseworker.id}
    )
    assert bad.status_code == 400 and owner.get(f"/cases/{case_id}").status_code == 200
    done = receiver.post(
        f"/transfers/{transfer_id}/accept", data={"csrf_token": token, "new_owner_id": world.other.caseworker.id}
    )
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/cases/{case_id}")
    assert receiver.get(f"/cases/{case_id}").status_code == 200
    assert owner.get(f"/cases/{case_id}").status_code == 404
    with within(app):
        assert db.session.scalars(select(CaseMember.user_id).where(CaseMember.case_id == case_id)).all() == [
            world.other.caseworker.id
        ]
