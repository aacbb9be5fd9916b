"""One transaction style for forms (`forms_base.attempt` and `submit`): the service call runs in a
savepoint, so a refusal leaves the database as it was and tells nobody, while what the request
did around it (the page shown again is a view, refused accesses are noted) is kept by the edge
although the answer is an error. Pinned on the helpers, and on a view of each former style: one
that used its own savepoint (the case page) and one that rolled back and asked to keep (a
transfer's acceptance)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import func, select
from wtforms import StringField

from referral.audit.models import AuditEvent
from referral.audit.services import record, record_denial
from referral.cases.models import CaseMember
from referral.directory import services as directory
from referral.directory.models import Network
from referral.errors import InvalidInput, NotFound
from referral.extensions import db
from referral.forms_base import CheckedForm, attempt, submit
from referral.referrals import transfers
from referral.referrals.models import CaseTransfer
from referral.transaction import after_commit, finish_request, undone_on_error
from tests.conftest import csrf, sign_in
from tests.helpers.access import transfer_by
from tests.helpers.cases import World, open_case, user


def _network(governorate: str) -> Network:
    prefix = PREFIXES[governorate]
    return directory.create_network(
        db.session, None, governorate=governorate, case_prefix=prefix, name_ar="ش", name_en="N"
    )


PREFIXES = {
    "gov_kept": "KPT",
    "gov_undone": "UND",
    "gov_done": "DON",
    "gov_ok": "OKK",
    "gov_refused": "REF",
    "gov_missing": "MIS",
    "gov_form": "FRM",
}


def _governorates() -> set[str]:
    return set(db.session.scalars(select(Network.governorate)))


# ------------------------------------------------------------------------------ the helpers
def test_a_refused_block_is_undone_with_its_side_effects_and_the_rest_stands(app: Flask) -> None:
    told: list[str] = []
    with app.app_context():
        _network("gov_kept")
        after_commit(lambda: told.append("before"))
        with pytest.raises(InvalidInput), undone_on_error():
            _network("gov_undone")
            after_commit(lambda: told.append("refused"))
            raise InvalidInput("invalid_network")
        with undone_on_error():  # a block that succeeds is kept, its side effects too
            _network("gov_done")
            after_commit(lambda: told.append("done"))
        db.session.commit()
        assert _governorates() >= {"gov_kept", "gov_done"} and "gov_undone" not in _governorates()
        assert told == ["before", "done"]


def test_attempt_returns_the_refusal_and_asks_the_edge_to_keep_the_rest(app: Flask) -> None:
    with app.test_request_context("/", method="POST"):
        value, error = attempt(lambda: _network("gov_ok"))
        assert error is None and value.governorate == "gov_ok" and not g.get("keep_on_error")

        def refused() -> None:
            _network("gov_refused")
            raise InvalidInput("invalid_network", fields={"governorate": "taken"})

        value, error = attempt(refused)
        assert value is None and isinstance(error, InvalidInput) and g.keep_on_error is True
        assert "gov_refused" not in _governorates()


def test_attempt_raises_not_found_on_when_asked_and_keeps_nothing(app: Flask) -> None:
    def missing() -> None:
        _network("gov_missing")
        raise NotFound("case")

    with app.test_request_context("/", method="POST"):
        with pytest.raises(NotFound):
            attempt(missing, catch_not_found=False)
        assert not g.get("keep_on_error") and "gov_missing" not in _governorates()
        _value, error = attempt(missing)  # by default a "not found" is a refusal like any other
        assert isinstance(error, NotFound) and g.keep_on_error is True


class _NameForm(CheckedForm):
    class Meta:
        csrf = False

    name = StringField()


def _audited(action: str) -> int:
    return int(db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == action)) or 0)


@pytest.mark.parametrize("valid", [True, False], ids=["refused by the service", "invalid form"])
def test_a_refused_form_writes_nothing_but_its_page_and_denials_are_kept(app: Flask, valid: bool) -> None:
    """Through the request edge: the service's row and audit event are gone; the page view
    recorded around the form, and a denial noted inside the refused call, land."""
    data = {"name": "x"} if valid else {"name": "\u202ex"}  # a direction override is refused by the form

    def refused() -> None:
        _network("gov_form")
        record_denial(None, "case", "someone-elses-case")
        raise InvalidInput("invalid_network", fields={"name": "taken"})

    with app.test_request_context("/", method="POST", data=data):
        before = _audited("access.denied")
        record("directory.export", None, organizations=0, services=0)  # the page's own view record
        form = _NameForm()
        outcome = submit(form, refused)
        assert not outcome.done and outcome.status == 400 and form.name.errors
        finish_request(app.response_class(status=400))
    with app.app_context():
        assert "gov_form" not in _governorates()
        assert _audited("network.create") == 0
        assert _audited("directory.export") == 1
        assert _audited("access.denied") == before + (1 if valid else 0)


# ------------------------------------------------------------------------------ converted views
def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _members(app: Flask, case_id: str) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(CaseMember.user_id).where(CaseMember.case_id == case_id)))


def test_a_refused_team_change_on_the_case_page_writes_nothing_and_the_view_stays(
    client: FlaskClient, app: Flask, world: World
) -> None:
    """Formerly its own savepoint: the case page's forms."""
    case_id = open_case(app, world, world.mine.caseworker)
    team = _members(app, case_id)
    sign_in(client, app, world.mine.supervisor)
    token = csrf(client, f"/cases/{case_id}")
    views = len(_events(app, "case.view"))
    refused = client.post(
        f"/cases/{case_id}/members",
        data={"csrf_token": token, "member-user_id": world.other.caseworker.id},  # another organisation's
    )
    assert refused.status_code == 400
    assert _members(app, case_id) == team
    assert _events(app, "case.assign") == []
    assert len(_events(app, "case.view")) == views + 1  # the page shown again is recorded


def test_a_refused_transfer_acceptance_writes_nothing_and_the_view_stays(
    client: FlaskClient, app: Flask, world: World
) -> None:
    """Formerly a rollback and a request to keep: a transfer's answers."""
    transfer_id = transfer_by(app, world, world.mine.caseworker)
    sign_in(client, app, world.other.supervisor)
    token = csrf(client, f"/transfers/{transfer_id}")
    views = len(_events(app, "case.transfer_view"))
    refused = client.post(
        f"/transfers/{transfer_id}/accept",
        data={"csrf_token": token, "new_owner_id": world.other.org_admin.id},  # not case staff
    )
    assert refused.status_code == 400
    with app.app_context():
        transfer: Any = db.session.get(CaseTransfer, transfer_id)
        assert transfer.state == "requested" and transfer.new_owner_id is None
        assert transfers.pending_for(db.session, transfer.case) is not None
        assert transfer.case.organization_id == world.mine.id
    assert _events(app, "case.transfer") == []
    assert len(_events(app, "case.transfer_view")) == views + 1
    with app.app_context():  # and the answer goes through once it names case staff
        done = transfers.accept(db.session, user(world.other.supervisor), transfer_id, world.other.caseworker.id)
        db.session.commit()
        assert done.state == "accepted"
