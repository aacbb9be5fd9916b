"""Case-file rules: codes, the access matrix, steps and approvals, notes, identifiers."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select, text

from referral.audit.models import AuditEvent
from referral.cases import services
from referral.cases.classification import classify
from referral.cases.models import Case, CaseNote
from referral.errors import Forbidden, InvalidInput, NotFound
from referral.extensions import db
from tests.helpers.cases import MARKER_ID, MARKER_NAME, World, intake, open_case, user


def test_case_code_per_governorate_and_year(app: Flask, world: World) -> None:
    first, second = open_case(app, world), open_case(app, world)
    with app.app_context():
        codes = [db.session.get(Case, i).case_code for i in (first, second)]
    prefix = codes[0].split("-")[0]
    assert re.fullmatch(r"[A-Z]{3}-\d{4}-\d{6}", codes[0])
    assert codes[1] == f"{prefix}-{codes[0].split('-')[1]}-{int(codes[0][-6:]) + 1:06d}"


def test_identifying_and_confidential_fields_are_not_in_the_database_in_clear(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with app.app_context():
        services.add_note(db.session, user(world.mine.caseworker), case_id, "Marker note about the visit")
        db.session.commit()
        dump = []
        for table in ("case_file", "incident", "case_note"):
            for row in db.session.execute(text(f"SELECT * FROM {table}")):
                dump.append(repr(tuple(row)))
        joined = "\n".join(dump)
        for marker in (MARKER_NAME, MARKER_ID, "111 2233", "Marker narrative", "Marker note", "Um Ahmad", "1994-03-02"):
            assert marker not in joined
        assert "physical_assault" in joined  # statistical fields stay in clear
        case = db.session.get(Case, case_id)
        assert case.full_name.startswith(MARKER_NAME) and case.safe_contact["instructions"] == "Ask for Um Ahmad"


ROLES = ("caseworker", "colleague", "supervisor", "org_admin")


@pytest.mark.parametrize("side", ["mine", "other"])
@pytest.mark.parametrize("who", ROLES)
def test_access_matrix(app: Flask, world: World, side: str, who: str) -> None:
    case_id = open_case(app, world)
    account = getattr(getattr(world, side), who)
    owner_here = side == "mine" and who == "caseworker"
    supervisor_here = side == "mine" and who == "supervisor"
    with app.app_context():
        actor = user(account)
        listed = {c.id for c in services.list_cases(db.session, actor).items}
        assert (case_id in listed) == (owner_here or supervisor_here)
        if owner_here or supervisor_here:
            assert services.view_case(db.session, actor, case_id).id == case_id
            assert services.reveal(db.session, actor, case_id).id == case_id
        else:
            with pytest.raises(NotFound):
                services.view_case(db.session, actor, case_id)
            with pytest.raises(NotFound):
                services.reveal(db.session, actor, case_id)
        if owner_here:
            services.update_case(db.session, actor, case_id, services.CaseInput({"risk_level": "high"}))
        else:
            with pytest.raises(NotFound):
                services.update_case(db.session, actor, case_id, services.CaseInput({"risk_level": "high"}))
        db.session.rollback()


@pytest.mark.parametrize("role", ["coordinator", "auditor", "sysadmin"])
def test_platform_roles_see_no_case(app: Flask, world: World, role: str) -> None:
    case_id = open_case(app, world)
    with app.app_context():
        actor = user(getattr(world, role))
        assert services.list_cases(db.session, actor).items == []
        with pytest.raises(NotFound):
            services.view_case(db.session, actor, case_id)
        with pytest.raises(Forbidden):
            services.create_case(db.session, actor, services.CaseInput(intake(world)))


def test_assigned_colleague_joins_the_team(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with app.app_context():
        services.add_member(db.session, user(world.mine.caseworker), case_id, world.mine.colleague.id)
        db.session.commit()
        assert services.view_case(db.session, user(world.mine.colleague), case_id).id == case_id
        with pytest.raises(InvalidInput):
            services.add_member(db.session, user(world.mine.caseworker), case_id, world.other.caseworker.id)


def test_blind_index_search_finds_within_the_organisation_only(app: Flask, world: World) -> None:
    mine = open_case(app, world)
    theirs = open_case(app, world, by=world.other.caseworker)
    with app.app_context():
        found = services.list_cases(db.session, user(world.mine.supervisor), identifier="987-654-324")
        assert [c.id for c in found.items] == [mine]
        by_phone = services.list_cases(db.session, user(world.mine.supervisor), identifier="00970591112233")
        assert [c.id for c in by_phone.items] == [mine]
        assert theirs not in {
            c.id for c in services.list_cases(db.session, user(world.mine.supervisor), identifier=MARKER_ID).items
        }
        assert "case.search_identifier" in db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()


def test_returning_survivor_is_flagged_inside_the_organisation(app: Flask, world: World) -> None:
    first = open_case(app, world)
    open_case(app, world, by=world.other.caseworker)  # same person at another organisation: not shown
    with app.app_context():
        _, matches = services.create_case(
            db.session,
            user(world.mine.caseworker),
            services.CaseInput(intake(world, phone="0591112233", national_id=None)),
        )
        code = db.session.get(Case, first).case_code
        assert matches == [code]


def test_masked_name_shows_initials_only(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with app.app_context():
        masked = services.masked_name(db.session.get(Case, case_id))
        assert masked == "Z. S." and MARKER_NAME not in masked


def test_steps_require_their_content_and_a_supervisor_who_is_not_the_author(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    worker, supervisor = world.mine.caseworker, world.mine.supervisor
    with app.app_context():
        w, s = user(worker), user(supervisor)
        with pytest.raises(services.StepRequirement):
            services.move(db.session, w, case_id, "assessment")
        services.record_step_content(
            db.session,
            w,
            case_id,
            "consent_for_services",
            {"given": True, "method": "verbal", "limits_explained": True},
        )
        services.move(db.session, w, case_id, "assessment")
        with pytest.raises(services.InvalidTransition):
            services.move(db.session, w, case_id, "closed")
        services.record_step_content(
            db.session,
            w,
            case_id,
            "assessment",
            {"needs": ["legal", "shelter"], "immediate_danger": True, "risk_level": "high"},
        )
        services.move(db.session, w, case_id, "action_plan")
        services.record_step_content(db.session, w, case_id, "action_plan", {"actions": ["refer to legal aid"]})
        with pytest.raises(services.StepRequirement):
            services.move(db.session, w, case_id, "implementation")  # not approved
        assert [c.id for c in services.approval_queue(db.session, s)] == [case_id]
        services.approve(db.session, s, case_id, "action_plan")
        with pytest.raises(services.StepRequirement):
            services.move(db.session, w, case_id, "implementation")  # high risk needs a safety plan
        services.record_step_content(db.session, w, case_id, "safety_plan", "Marker safety plan")
        services.move(db.session, w, case_id, "implementation")
        services.move(db.session, w, case_id, "follow_up")
        with pytest.raises(services.StepRequirement):
            services.move(db.session, w, case_id, "closure_pending")  # no checklist
        services.record_step_content(
            db.session, w, case_id, "closure", {"reason": "needs_met", "survivor_told_can_return": True}
        )
        services.move(db.session, w, case_id, "closure_pending")
        with pytest.raises(services.StepRequirement):
            services.move(db.session, w, case_id, "closed")  # closing is the supervisor's approval
        services.approve(db.session, s, case_id, "closure")
        case = db.session.get(Case, case_id)
        assert case.status == "closed" and case.closed_at is not None
        services.move(db.session, w, case_id, "reopened", "new_needs")
        services.move(db.session, w, case_id, "assessment")
        db.session.commit()
        steps = [t.to_status for t in services.transitions(db.session, case)]
        assert steps == [
            "intake",
            "assessment",
            "action_plan",
            "implementation",
            "follow_up",
            "closure_pending",
            "closed",
            "reopened",
            "assessment",
        ]


def test_the_author_of_a_plan_cannot_approve_it(app: Flask, world: World) -> None:
    case_id = open_case(app, world, by=world.mine.supervisor)
    with app.app_context():
        s = user(world.mine.supervisor)
        services.record_step_content(
            db.session,
            s,
            case_id,
            "consent_for_services",
            {"given": True, "method": "written", "limits_explained": True},
        )
        services.move(db.session, s, case_id, "assessment")
        services.record_step_content(db.session, s, case_id, "assessment", {"needs": ["x"], "risk_level": "low"})
        services.move(db.session, s, case_id, "action_plan")
        services.record_step_content(db.session, s, case_id, "action_plan", {"actions": ["y"]})
        with pytest.raises(Forbidden):
            services.approve(db.session, s, case_id, "action_plan")
        assert services.approval_queue(db.session, s) == []


def test_notes_are_append_only_with_author_and_time(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with app.app_context():
        note = services.add_note(db.session, user(world.mine.caseworker), case_id, "first")
        services.add_note(db.session, user(world.mine.caseworker), case_id, "second")
        db.session.commit()
        listed = services.notes(db.session, db.session.get(Case, case_id))
        assert [n.body for n in listed] == ["first", "second"]
        assert listed[0].author_id == world.mine.caseworker.id and listed[0].created_at is not None
        assert not hasattr(services, "update_note") and not hasattr(services, "delete_note")
        assert db.session.get(CaseNote, note.id).body == "first"


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"penetration": True, "physical_violence": True}, "rape"),
        ({"sexual_contact": True, "psychological_harm": True}, "sexual_assault"),
        ({"physical_violence": True, "forced_marriage": True}, "physical_assault"),
        ({"forced_marriage": True, "denial_of_resources": True}, "forced_marriage"),
        ({"denial_of_resources": True, "psychological_harm": True}, "denial_of_resources"),
        ({"psychological_harm": True}, "psychological_abuse"),
        ({}, "non_gbv"),
    ],
)
def test_classification_applies_the_precedence_order(answers: dict[str, bool], expected: str) -> None:
    assert classify(answers) == expected


def test_bad_input_names_each_field_and_writes_nothing(app: Flask, world: World) -> None:
    with app.app_context():
        with pytest.raises(InvalidInput) as caught:
            services.create_case(
                db.session,
                user(world.mine.caseworker),
                services.CaseInput(
                    intake(
                        world, governorate="atlantis", date_of_birth="2999-01-01", risk_level="extreme", colour="blue"
                    )
                ),
            )
        assert set(caught.value.fields) == {"governorate", "date_of_birth", "risk_level", "colour"}
        db.session.rollback()
        assert db.session.scalar(select(Case.id)) is None


def test_every_read_and_write_is_audited_with_ids_not_values(app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    with app.app_context():
        w = user(world.mine.caseworker)
        services.view_case(db.session, w, case_id)
        services.reveal(db.session, w, case_id)
        services.update_case(db.session, w, case_id, services.CaseInput({"phone": "0599000000"}))
        services.add_note(db.session, w, case_id, "note")
        db.session.commit()
        events = list(
            db.session.scalars(select(AuditEvent).where(AuditEvent.object_id == case_id).order_by(AuditEvent.id))
        )
        assert [e.action for e in events] == ["case.create", "case.view", "case.reveal", "case.update", "case.note"]
        code = db.session.get(Case, case_id).case_code
        assert all(e.case_code == code for e in events)
        text_of_events = repr([(e.details, e.reason) for e in events])
        assert MARKER_NAME not in text_of_events and "0599000000" not in text_of_events
        assert events[3].details == {"fields": "phone"}


def test_refused_access_is_recorded(app: Flask, world: World, client: object) -> None:
    case_id = open_case(app, world)
    with app.app_context():
        with pytest.raises(NotFound):
            services.view_case(db.session, user(world.other.supervisor), case_id)
        from referral.audit.services import take_denials

        denials = take_denials(db.session)
        assert [(d["action"], d["object_id"], d["actor_id"]) for d in denials] == [
            ("access.denied", case_id, world.other.supervisor.id)
        ]


def test_a_concurrent_save_is_a_conflict_not_an_error(app: Flask, world: World) -> None:
    """Two people save one case: the one whose read is out of date gets 409 and nothing is written."""
    from flask import Response

    from referral.transaction import finish_request

    case_id = open_case(app, world)
    with app.test_request_context("/cases"):
        case = db.session.get(Case, case_id)
        version = case.version
        # the other person's save lands first (same effect as a concurrent request committing)
        db.session.execute(
            text("UPDATE case_file SET version = version + 1, risk_level = 'high' WHERE version = :v"), {"v": version}
        )
        case.risk_level = "low"
        answer = finish_request(Response("saved"))
        assert answer.status_code == 409
    with app.app_context():
        assert db.session.get(Case, case_id).risk_level == "medium"  # neither half of the request stayed


@pytest.mark.parametrize("bad", ["not-a-uuid", "1; DROP TABLE case_file", ""])
def test_a_malformed_case_id_is_not_found(app: Flask, world: World, bad: str) -> None:
    with app.app_context():
        with pytest.raises(NotFound):
            services.view_case(db.session, user(world.mine.caseworker), bad)
        db.session.rollback()
        assert db.session.scalar(select(Case.id)) is None  # the session is still usable


@pytest.mark.parametrize(
    ("name", "initials"),
    [
        ("منى يوسف الخطيب", "م. ي. خ."),
        ("سعاد محمد بالحاج", "س. م. ح."),
        ("ريم علي والي", "ر. ع. و."),  # والي is a name, not و + ال
        ("هدى سالم للحام", "ه. س. ح."),
        ("Mona Yusuf Al-Khatib", "M. Y. K."),
        ("Mona el-Masri", "M. M."),
        ("Mona Al Khatib", "M. K."),  # the article written apart is no word of its own
        ("Alia Elias", "A. E."),  # names that merely begin with the letters keep them
        ("ال", "—"),
    ],
)
def test_initials_skip_the_article(app: Flask, world: World, name: str, initials: str) -> None:
    assert services.masked_name(Case(full_name=name)) == initials
