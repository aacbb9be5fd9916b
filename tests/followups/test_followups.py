"""Follow-up tasks: who may add, see, complete and cancel them, who may be given one, which are
due when (day boundaries in the network's time zone), "done and the next one" as one step, the
supervisor's team view, encryption of notes, and the pages in Arabic."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from referral.audit.models import AuditEvent
from referral.cases import services as cases
from referral.cases.models import Case
from referral.errors import Forbidden, InvalidInput, NotFound
from referral.extensions import db
from referral.followups import services as followups
from referral.followups.models import FollowUp
from referral.models_base import utcnow
from tests.conftest import Account, csrf_from, sign_in
from tests.helpers.cases import World, open_case, user
from tests.helpers.followups import add_followup, followup_input

NOTE_MARKER = "Marker-FollowUp-Note-Hq3"


def _get(app: Flask, followup_id: str) -> FollowUp:
    with app.app_context():
        found = db.session.get(FollowUp, followup_id)
        assert found is not None
        db.session.expunge(found)
        return found


def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


# ------------------------------------------------------------------------------ create
def test_a_new_follow_up_goes_to_the_case_owner_by_default(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    followup_id = add_followup(app, world.mine.supervisor, case_id, note=NOTE_MARKER)
    followup = _get(app, followup_id)
    assert followup.assignee_id == world.mine.caseworker.id
    assert followup.state == "open" and followup.organization_id == world.mine.id
    assert followup.case_code.count("-") == 2
    created = _events(app, "followup.create")
    assert len(created) == 1 and created[0].case_code == followup.case_code
    assert created[0].details["assignee_id"] == world.mine.caseworker.id


def test_an_assignee_who_may_not_see_the_case_is_a_field_error(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with app.app_context():
        actor = user(world.mine.caseworker)
        for outsider in (world.other.caseworker, world.other.supervisor, world.mine.colleague, world.mine.org_admin):
            with pytest.raises(InvalidInput) as refused:
                followups.create(db.session, actor, case_id, followup_input(assignee_id=outsider.id))
            assert refused.value.fields == {"assignee_id": "invalid_assignee"}
        # the organisation's supervisor may see every case of it: she may be given one
        followup = followups.create(db.session, actor, case_id, followup_input(assignee_id=world.mine.supervisor.id))
        assert followup.assignee_id == world.mine.supervisor.id


def test_bad_input_names_each_field(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with app.app_context(), pytest.raises(InvalidInput) as refused:
        followups.create(
            db.session,
            user(world.mine.caseworker),
            case_id,
            followup_input(kind="dance", due_at=utcnow() - timedelta(days=2), referral_id="not-a-uuid"),
        )
    assert refused.value.fields == {"kind": "invalid", "due_at": "due_in_past", "referral_id": "unknown"}


def test_other_organisations_and_other_roles_get_not_found(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    followup_id = add_followup(app, world.mine.caseworker, case_id)
    outsiders = (world.other.caseworker, world.other.supervisor, world.mine.colleague, world.mine.org_admin)
    with app.app_context():
        for outsider in (*outsiders, world.coordinator, world.auditor):
            actor = user(outsider)
            with pytest.raises(NotFound):
                followups.create(db.session, actor, case_id, followup_input())
            for attempt in (followups.view, followups.complete, followups.cancel):
                with pytest.raises(NotFound):
                    attempt(db.session, actor, followup_id)
            assert followups.listing(db.session, actor).items == []
    assert _get(app, followup_id).state == "open"


def test_a_closed_case_takes_no_new_follow_up(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with app.app_context():
        db.session.get(Case, case_id).status = "closed"
        db.session.commit()
    with app.app_context(), pytest.raises(followups.InvalidTransition):
        followups.create(db.session, user(world.mine.caseworker), case_id, followup_input())


# ------------------------------------------------------------------------------ due windows
def _due_ids(app: Flask, who: Account, due: str | None = None) -> list[str]:
    with app.app_context():
        return [f.id for f in followups.listing(db.session, user(who), due=due).items]


def test_due_windows_follow_local_midnight_in_hebron(app: Flask, world: World) -> None:
    """Late November, Hebron is UTC+2: 21:30 UTC is 23:30 local, 22:15 UTC is 00:15 next day."""
    me = world.mine.caseworker
    evening = datetime(2026, 11, 29, 21, 30, tzinfo=UTC)
    with time_machine.travel(evening - timedelta(hours=1), tick=False):
        case_id = open_case(app, world)
        past = add_followup(app, me, case_id, due_at=datetime(2026, 11, 29, 21, 0, tzinfo=UTC))  # 23:00 local
        tonight = add_followup(app, me, case_id, due_at=datetime(2026, 11, 29, 21, 45, tzinfo=UTC))  # 23:45 local
        after_midnight = add_followup(app, me, case_id, due_at=datetime(2026, 11, 29, 22, 30, tzinfo=UTC))  # 00:30
        sixth_day = add_followup(app, me, case_id, due_at=datetime(2026, 12, 5, 21, 59, tzinfo=UTC))  # 5 Dec 23:59
        seventh_day = add_followup(app, me, case_id, due_at=datetime(2026, 12, 5, 22, 0, tzinfo=UTC))  # 6 Dec 00:00
    with time_machine.travel(evening, tick=False):
        assert _due_ids(app, me, "overdue") == [past]
        assert _due_ids(app, me, "today") == [tonight]
        assert _due_ids(app, me, "week") == [tonight, after_midnight, sixth_day]
        assert _due_ids(app, me) == [past, tonight, after_midnight, sixth_day, seventh_day]
        with app.app_context():
            day = followups.my_day(db.session, user(me))
            assert [[f.id for f in part] for part in (day.overdue, day.today, day.week)] == [
                [past],
                [tonight],
                [after_midnight, sixth_day],
            ]
    with time_machine.travel(datetime(2026, 11, 29, 22, 15, tzinfo=UTC), tick=False):  # 00:15 local, 30 Nov
        assert _due_ids(app, me, "overdue") == [past, tonight]
        assert _due_ids(app, me, "today") == [after_midnight]
        assert _due_ids(app, me, "week") == [after_midnight, sixth_day, seventh_day]  # the week moved on a day


def test_lists_hold_only_ones_own_open_follow_ups(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    mine = add_followup(app, world.mine.caseworker, case_id)
    add_followup(app, world.mine.caseworker, case_id, assignee_id=world.mine.supervisor.id)
    done = add_followup(app, world.mine.caseworker, case_id)
    with app.app_context():
        followups.complete(db.session, user(world.mine.caseworker), done)
        db.session.commit()
    assert _due_ids(app, world.mine.caseworker) == [mine]


# ------------------------------------------------------------------------------ complete
def test_done_and_the_next_one_is_one_step(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    first = add_followup(app, world.mine.caseworker, case_id, assignee_id=world.mine.supervisor.id)
    with app.app_context():
        _done, following = followups.complete(
            db.session,
            user(world.mine.supervisor),
            first,
            note="spoke to her",
            next_followup=followup_input(kind="visit", note=NOTE_MARKER),
        )
        db.session.commit()
        assert following is not None
        next_id = following.id
    assert _get(app, first).state == "done"
    assert _get(app, first).done_by == world.mine.supervisor.id
    following_row = _get(app, next_id)
    assert following_row.state == "open" and following_row.kind == "visit"
    assert following_row.follows_id == first
    assert following_row.assignee_id == world.mine.supervisor.id  # stays with the one who did the work
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(FollowUp)) == 2
    assert [e.object_id for e in _events(app, "followup.complete")] == [first]
    assert {e.object_id for e in _events(app, "followup.create")} == {first, next_id}


def test_a_refused_next_follow_up_leaves_the_first_open(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    first = add_followup(app, world.mine.caseworker, case_id)
    with app.app_context():
        actor = user(world.mine.caseworker)
        with pytest.raises(InvalidInput) as refused:
            followups.complete(
                db.session,
                actor,
                first,
                next_followup=followup_input(
                    due_at=utcnow() - timedelta(days=3), assignee_id=world.other.caseworker.id
                ),
            )
        assert refused.value.fields == {"next.due_at": "due_in_past", "next.assignee_id": "invalid_assignee"}
        db.session.flush()  # whatever the refused call left in the session would be written now
        assert db.session.get(FollowUp, first).state == "open"
        assert db.session.scalar(select(db.func.count()).select_from(FollowUp)) == 1
        assert not [e for e in db.session.new if isinstance(e, AuditEvent) and e.action == "followup.complete"]
        db.session.commit()
    assert _get(app, first).state == "open" and _events(app, "followup.complete") == []


def test_only_the_assignee_or_the_case_team_marks_it_done(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    for_owner = add_followup(app, world.mine.caseworker, case_id)
    for_supervisor = add_followup(app, world.mine.caseworker, case_id, assignee_id=world.mine.supervisor.id)
    with app.app_context():
        with pytest.raises(Forbidden):  # she sees the case, but is neither assignee nor on the team
            followups.complete(db.session, user(world.mine.supervisor), for_owner)
        followups.complete(db.session, user(world.mine.supervisor), for_supervisor)
        db.session.commit()
    with app.app_context():
        cases.add_member(db.session, user(world.mine.caseworker), case_id, world.mine.colleague.id)
        db.session.commit()
    with app.app_context():
        followups.complete(db.session, user(world.mine.colleague), for_owner)  # now on the team
        db.session.commit()
    assert _get(app, for_owner).done_by == world.mine.colleague.id
    with app.app_context(), pytest.raises(followups.InvalidTransition):
        followups.complete(db.session, user(world.mine.caseworker), for_owner)


def test_cancel_and_reschedule(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    followup_id = add_followup(app, world.mine.caseworker, case_id)
    later = utcnow().replace(microsecond=0) + timedelta(days=3)
    with app.app_context():
        moved = followups.reschedule(
            db.session, user(world.mine.supervisor), followup_id, due_at=later, assignee_id=world.mine.supervisor.id
        )
        db.session.commit()
        assert moved.version == 2
    with app.app_context():
        with pytest.raises(followups.Conflict):
            followups.cancel(db.session, user(world.mine.caseworker), followup_id, expected_version=1)
        followups.cancel(db.session, user(world.mine.caseworker), followup_id, expected_version=2)
        db.session.commit()
    row = _get(app, followup_id)
    assert (row.state, row.due_at, row.assignee_id) == ("cancelled", later, world.mine.supervisor.id)
    assert _events(app, "followup.update")[0].details["fields"] == "assignee_id,due_at"
    assert len(_events(app, "followup.cancel")) == 1


# ------------------------------------------------------------------------------ team
def test_team_overdue_lists_only_her_organisations_follow_ups(app: Flask, world: World) -> None:
    start = utcnow()
    with time_machine.travel(start, tick=False):
        mine = open_case(app, world)
        theirs = open_case(app, world, by=world.other.caseworker)
        late_owner = add_followup(app, world.mine.caseworker, mine, due_at=start + timedelta(hours=1))
        late_colleague = add_followup(
            app, world.mine.caseworker, mine, due_at=start + timedelta(hours=2), assignee_id=world.mine.supervisor.id
        )
        add_followup(app, world.mine.caseworker, mine, due_at=start + timedelta(days=5))  # not yet due
        add_followup(app, world.other.caseworker, theirs, due_at=start + timedelta(hours=1))
    with time_machine.travel(start + timedelta(days=1), tick=False), app.app_context():
        team = followups.team_overdue(db.session, user(world.mine.supervisor))
        assert {m.assignee_id: [f.id for f in m.items] for m in team} == {
            world.mine.caseworker.id: [late_owner],
            world.mine.supervisor.id: [late_colleague],
        }
        with pytest.raises(Forbidden):
            followups.team_overdue(db.session, user(world.mine.caseworker))


# ------------------------------------------------------------------------------ confidentiality
def test_notes_are_encrypted_at_rest_and_never_in_the_audit_trail(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    first = add_followup(app, world.mine.caseworker, case_id, note=NOTE_MARKER + " first")
    with app.app_context():
        followups.complete(
            db.session,
            user(world.mine.caseworker),
            first,
            note=NOTE_MARKER + " done",
            next_followup=followup_input(note=NOTE_MARKER + " next"),
        )
        db.session.commit()
    with app.app_context():
        raw = db.session.execute(text("SELECT note, done_note FROM followup")).all()
        assert len(raw) == 2 and any(row[0] for row in raw) and any(row[1] for row in raw)
        for row in raw:
            for value in row:
                assert value is None or NOTE_MARKER.encode() not in bytes(value)
        audit = db.session.execute(text("SELECT * FROM audit_event")).all()
        assert audit and NOTE_MARKER not in str(audit)
        followup = followups.view(db.session, user(world.mine.caseworker), first)
        assert followup.note == NOTE_MARKER + " first" and followup.done_note == NOTE_MARKER + " done"


# ------------------------------------------------------------------------------ pages
def test_my_day_in_arabic_with_done_and_the_next_one(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    overdue_at = utcnow() + timedelta(minutes=1)
    first = add_followup(app, world.mine.caseworker, case_id, due_at=overdue_at)
    code = _get(app, first).case_code
    with time_machine.travel(overdue_at + timedelta(minutes=1), tick=True):
        sign_in(client, app, world.mine.caseworker)
        page = client.get("/followups")
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert 'dir="rtl"' in html and "يومي" in html and "متأخرة" in html and code in html
        assert "no-store" in page.headers["Cache-Control"]
        prefix = "f" + first.replace("-", "")[:12]
        form = {
            "csrf_token": csrf_from(html),
            f"{prefix}-version": "1",
            f"{prefix}-back": "day",
            f"{prefix}-next_kind": "visit",
            f"{prefix}-next_due_at": "2099-01-01T09:30",
        }
        refused = client.post(f"/followups/{first}/complete", data=form)
        assert refused.status_code == 400 and "السنتين" in refused.get_data(as_text=True)
        assert _get(app, first).state == "open"
        form[f"{prefix}-next_due_at"] = (utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT09:30")
        done = client.post(f"/followups/{first}/complete", data=form)
        assert done.status_code == 303
    assert _get(app, first).state == "done"
    with app.app_context():
        following = db.session.scalar(select(FollowUp).where(FollowUp.follows_id == first))
        assert following is not None and following.kind == "visit"
        local = following.due_at.astimezone(followups.local_zone())
        assert (local.hour, local.minute) == (9, 30)  # typed as local time, stored in UTC


def test_my_day_pages_its_follow_ups_and_keeps_a_refused_one_of_a_later_page(
    client: FlaskClient, app: Flask, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = open_case(app, world)
    now = utcnow()
    ids = [add_followup(app, world.mine.caseworker, case_id, due_at=now + timedelta(minutes=m)) for m in (1, 2, 3)]
    monkeypatch.setattr(followups, "MY_DAY_PAGE", 2)
    with time_machine.travel(now + timedelta(minutes=5), tick=True):
        sign_in(client, app, world.mine.caseworker)
        first = client.get("/followups").get_data(as_text=True)
        assert [i in first for i in ids] == [True, True, False]
        assert '<span class="badge text-bg-danger">3</span>' in first  # the count of every page
        found = re.search(r'rel="next" data-testid="next-page" href="([^"]+)"', first)
        assert found is not None
        second = client.get(found.group(1).replace("&amp;", "&")).get_data(as_text=True)
        assert [i in second for i in ids] == [False, False, True] and 'data-testid="next-page"' not in second
        prefix = "f" + ids[2].replace("-", "")[:12]
        form = {
            "csrf_token": csrf_from(first),
            f"{prefix}-version": "1",
            f"{prefix}-back": "day",
            f"{prefix}-note": "kept after the refusal",
            f"{prefix}-next_kind": "visit",
            f"{prefix}-next_due_at": "2099-01-01T09:30",
        }
        refused = client.post(f"/followups/{ids[2]}/complete", data=form)
        html = refused.get_data(as_text=True)
        assert refused.status_code == 400 and ids[2] in html and "kept after the refusal" in html
        assert 'data-testid="error-summary"' in html
    assert _get(app, ids[2]).state == "open"
    with app.app_context():
        counts = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "followup.list").order_by(AuditEvent.occurred_at)
        ).all()
        assert [e.details.get("count") for e in counts][:2] == [2, 1]


def test_done_from_the_case_page_and_a_refused_one_shown_there_with_its_input(
    client: FlaskClient, app: Flask, world: World
) -> None:
    case_id = open_case(app, world)
    followup_id = add_followup(app, world.mine.caseworker, case_id)
    referral_followup = add_followup(app, world.mine.caseworker, case_id)
    sign_in(client, app, world.mine.caseworker)
    html = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert html.count('data-testid="done-form"') == 2 and f"/followups/{followup_id}/complete" in html
    prefix = "f" + followup_id.replace("-", "")[:12]
    assert f'name="{prefix}-back" type="hidden" value="case"' in html and f'for="{prefix}-next_kind"' in html
    form = {
        "csrf_token": csrf_from(html),
        f"{prefix}-version": "1",
        f"{prefix}-back": "case",
        f"{prefix}-note": "a note kept after the refusal",
        f"{prefix}-next_kind": "visit",
        f"{prefix}-next_due_at": "2099-01-01T09:30",
    }
    refused = client.post(f"/followups/{followup_id}/complete", data=form)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "a note kept after the refusal" in page
    assert page.count('data-testid="done-form"') == 2 and 'data-testid="error-summary"' in page
    form[f"{prefix}-next_due_at"] = (utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT09:30")
    done = client.post(f"/followups/{followup_id}/complete", data=form)
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/cases/{case_id}#followups")
    assert _get(app, followup_id).state == "done" and _get(app, referral_followup).state == "open"


def test_the_case_page_lists_and_adds_follow_ups(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    add_followup(app, world.mine.caseworker, case_id, note=NOTE_MARKER)
    sign_in(client, app, world.mine.caseworker)
    page = client.get(f"/cases/{case_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="followups"' in html and NOTE_MARKER in html
    # one page view, one event: the case's opening covers the notes shown on its page
    shown = [e for e in _events(app, "case.view") if e.request_id == page.headers["X-Request-ID"]]
    assert len(shown) == 1 and shown[0].route == "cases.show"
    assert _events(app, "followup.view") == []
    followups_page = client.get(f"/cases/{case_id}/followups")
    assert followups_page.status_code == 200 and NOTE_MARKER in followups_page.get_data(as_text=True)
    with app.app_context():
        written = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.request_id == followups_page.headers["X-Request-ID"])
        ).all()
    assert written == ["case.view"]
    token = csrf_from(html)
    form = {
        "csrf_token": token,
        "followup-kind": "safety_plan_review",
        "followup-due_at": (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "followup-assignee_id": world.other.caseworker.id,
    }
    refused = client.post(f"/cases/{case_id}/followups", data=form)
    assert refused.status_code == 400
    assert "يمكنها رؤية هذه الحالة" in refused.get_data(as_text=True)
    form["followup-assignee_id"] = world.mine.caseworker.id
    added = client.post(f"/cases/{case_id}/followups", data=form)
    assert added.status_code == 303 and added.headers["Location"].endswith("#followups")
    with app.app_context():
        kinds = sorted(db.session.scalars(select(FollowUp.kind)))
    assert kinds == ["call", "safety_plan_review"]


def test_the_case_page_shows_the_first_follow_ups_and_links_to_all_of_them(
    client: FlaskClient, app: Flask, world: World
) -> None:
    from referral.followups.followup_views import CASE_PAGE_FOLLOWUPS

    case_id = open_case(app, world)
    made = [add_followup(app, world.mine.caseworker, case_id) for _ in range(CASE_PAGE_FOLLOWUPS + 2)]
    sign_in(client, app, world.mine.caseworker)
    html = client.get(f"/cases/{case_id}").get_data(as_text=True)
    shown = [i for i in made if f"/followups/{i}/complete" in html]
    assert len(shown) == CASE_PAGE_FOLLOWUPS
    link = re.search(r'<a href="([^"]+)" data-testid="all-followups">([^<]+)</a>', html)
    assert link is not None and link.group(1) == f"/cases/{case_id}/followups"
    assert str(len(made)) in link.group(2)
    everything = client.get(link.group(1)).get_data(as_text=True)
    assert all(f"/followups/{i}/complete" in everything for i in made)
    assert 'data-testid="all-followups"' not in everything
    # a case with no more than fit on its page has no link
    small = open_case(app, world)
    add_followup(app, world.mine.caseworker, small)
    assert 'data-testid="all-followups"' not in client.get(f"/cases/{small}").get_data(as_text=True)


def test_team_overdue_page_is_for_supervisors(client: FlaskClient, app: Flask, world: World) -> None:
    sign_in(client, app, world.mine.supervisor)
    page = client.get("/followups/team")
    assert page.status_code == 200 and "المتأخرة" in page.get_data(as_text=True)
    client2 = app.test_client()
    sign_in(client2, app, world.mine.caseworker)
    assert client2.get("/followups/team").status_code == 403
    assert client2.get(f"/cases/{open_case(app, world, by=world.other.caseworker)}/followups").status_code == 404


def test_a_purged_case_keeps_its_follow_ups_without_their_notes(app: Flask, world: World) -> None:
    from referral.cases.retention import purge_closed_cases

    case_id = open_case(app, world)
    first = add_followup(app, world.mine.caseworker, case_id, note=NOTE_MARKER)
    with app.app_context():
        followups.complete(db.session, user(world.mine.caseworker), first, note=NOTE_MARKER)
        case = db.session.get(Case, case_id)
        case.status, case.closed_at = "closed", utcnow() - timedelta(days=800)
        db.session.commit()
    with app.app_context():
        assert purge_closed_cases(db.session, utcnow(), 1) == 1
        db.session.commit()
    row = _get(app, first)
    assert (row.note, row.done_note, row.kind, row.state) == (None, None, "call", "done")
