"""Releases: frozen when prepared, approved by every member organisation, then published and
immutable; readable by the network's members and auditors; the register of outside requests."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask

from referral.accounts.models import User
from referral.audit.models import AuditEvent
from referral.errors import InvalidInput, NotFound
from referral.extensions import db
from referral.statistics import releases, services
from referral.statistics.models import StatisticsRelease
from referral.statistics.queries import Window
from tests.helpers.statistics import StatsWorld, at

YEAR = Window(date(2026, 1, 1), date(2026, 12, 1))


def _user(account_id: str) -> User:
    return db.session.get(User, account_id)


def _prepare(app: Flask, w: StatsWorld) -> str:
    with app.app_context():
        release = releases.prepare(db.session, _user(w.coordinator.id), None, YEAR)
        db.session.commit()
        return release.id


def _cases(w: StatsWorld, n: int, month: int = 3) -> None:
    for i in range(n):
        w.case(w.members[0], at(month, 1 + i % 25), gbv_type="physical_assault")


def test_the_whole_way_to_publication(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    _cases(w, 6)
    release_id = _prepare(app, w)
    with app.app_context():
        coordinator = _user(w.coordinator.id)
        releases.submit(db.session, coordinator, release_id)
        db.session.commit()
        # every member organisation with an administrator must answer before it can be published
        with pytest.raises(releases.ReleaseStateError):
            releases.publish(db.session, coordinator, release_id)
        db.session.rollback()
        for member in w.members[:-1]:
            releases.decide(db.session, _user(member.admin.id), release_id, "approved")
        db.session.commit()
        with pytest.raises(releases.ReleaseStateError):
            releases.publish(db.session, coordinator, release_id)
        db.session.rollback()
        releases.decide(db.session, _user(w.members[-1].admin.id), release_id, "approved")
        releases.publish(db.session, coordinator, release_id)
        db.session.commit()
        release = db.session.get(StatisticsRelease, release_id)
        assert release.state == "published" and release.published_at is not None
        actions = set(
            db.session.scalars(
                db.select(AuditEvent.action).where(AuditEvent.action.like("statistics.%")).order_by(AuditEvent.id)
            )
        )
        assert {
            "statistics.release_prepare",
            "statistics.release_submit",
            "statistics.release_approve",
            "statistics.release_publish",
        } <= actions
        # members (a caseworker included) and auditors read it; another network's coordinator does not
        for reader in (w.members[0].caseworker, w.auditor, w.members[1].supervisor, w.national):
            assert releases.get(db.session, _user(reader.id), release_id).id == release_id
        with pytest.raises(NotFound):
            releases.get(db.session, _user(w.other_coordinator.id), release_id)


def test_a_published_release_reads_the_same_after_new_cases(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    _cases(w, 7)
    release_id = _prepare(app, w)
    with app.app_context():
        before = dict(db.session.get(StatisticsRelease, release_id).payload)
    _cases(w, 9)
    with app.app_context():
        release = db.session.get(StatisticsRelease, release_id)
        assert release.payload == before
        view = services.from_payload(release.payload)
        assert view.table("cases_new_by_month").value(None) == 7
        live = services.compute(
            db.session, _user(w.coordinator.id), services.scope_for(db.session, _user(w.coordinator.id)), YEAR
        )
        assert live.table("cases_new_by_month").value(None) == 16
        db.session.rollback()


def test_a_refusal_needs_a_reason_and_blocks_publication(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    release_id = _prepare(app, w)
    with app.app_context():
        releases.submit(db.session, _user(w.coordinator.id), release_id)
        db.session.commit()
        admin = _user(w.members[0].admin.id)
        with pytest.raises(InvalidInput) as refused:
            releases.decide(db.session, admin, release_id, "refused", "")
        assert refused.value.fields == {"note": "required"}
        releases.decide(db.session, admin, release_id, "refused", "The March numbers look incomplete.")
        for member in w.members[1:]:
            releases.decide(db.session, _user(member.admin.id), release_id, "approved")
        db.session.commit()
        with pytest.raises(releases.ReleaseStateError):
            releases.publish(db.session, _user(w.coordinator.id), release_id)
        with pytest.raises(releases.ReleaseStateError):  # one answer per organisation
            releases.decide(db.session, admin, release_id, "approved")
        db.session.rollback()


def test_drafts_are_for_their_coordinator_only_and_a_new_version_supersedes(
    app: Flask, stats_world: StatsWorld
) -> None:
    w = stats_world
    first = _prepare(app, w)
    second = _prepare(app, w)
    with app.app_context():
        assert db.session.get(StatisticsRelease, first).state == "superseded"
        assert db.session.get(StatisticsRelease, second).version == 2
        for outsider in (w.members[0].admin, w.members[0].caseworker, w.auditor, w.other_coordinator):
            with pytest.raises(NotFound):
                releases.get(db.session, _user(outsider.id), second)
        # an admin of another organisation cannot answer for a network it is not in
        releases.submit(db.session, _user(w.coordinator.id), second)
        with pytest.raises(NotFound):
            releases.decide(db.session, _user(w.other_coordinator.id), second, "approved")
        db.session.rollback()


def test_release_numbers_name_no_organisation(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    _cases(w, 12)
    release_id = _prepare(app, w)
    with app.app_context():
        import json

        from referral.directory.models import Organization

        text = json.dumps(db.session.get(StatisticsRelease, release_id).payload, ensure_ascii=False)
        for org in db.session.scalars(db.select(Organization)):
            assert org.name_en not in text and org.name_ar not in text and org.id not in text
        assert "TST-" not in text  # no case code


def test_the_register_of_outside_requests(app: Flask, stats_world: StatsWorld) -> None:
    w = stats_world
    with app.app_context():
        coordinator = _user(w.coordinator.id)
        with pytest.raises(InvalidInput) as bad:
            releases.record_request(db.session, coordinator, {"received_on": "2999-01-01", "requester": "x"})
        assert set(bad.value.fields) == {"received_on", "description", "purpose"}
        row = releases.record_request(
            db.session,
            coordinator,
            {
                "received_on": "2026-11-02",
                "requester": "Ministry of Women's Affairs",
                "description": "Cases by type, 2026",
                "purpose": "Annual report",
            },
        )
        releases.decide_request(db.session, coordinator, row.id, "refused", "Not before the release is approved")
        db.session.commit()
        assert releases.requests_for(db.session, coordinator)[0].decision == "refused"
        assert releases.requests_for(db.session, _user(w.other_coordinator.id)) == []


def test_the_lists_hold_exactly_the_releases_each_reader_may_read(app: Flask, stats_world: StatsWorld) -> None:
    """The release lists filter in SQL; for every reader they must hold what `may_read` allows."""
    from referral.models_base import new_id

    w = stats_world
    with app.app_context():
        made = []
        for scope_key, network_id in (
            (f"network:{w.governorate}", w.network_id),
            (f"network:{w.other_governorate}", None),
            ("national", None),
        ):
            for version, state in enumerate(("draft", "in_review", "published", "superseded"), start=1):
                release = StatisticsRelease(
                    version=version,
                    id=new_id(),
                    scope_key=scope_key,
                    network_id=network_id,
                    period_first="2026-01",
                    period_last="2026-06",
                    state=state,
                    threshold=5,
                    payload={},
                    checksum="0" * 64,
                    prepared_by=w.coordinator.id,
                    published_at=at(7) if state in ("published", "superseded") else None,
                )
                db.session.add(release)
                made.append(release)
        db.session.flush()
        readers = [w.coordinator, w.other_coordinator, w.national, w.auditor]
        readers += [m.admin for m in w.members] + [m.caseworker for m in w.members[:1]] + [w.members[0].supervisor]
        for account in readers:
            actor = _user(account.id)
            allowed = {r.id for r in made if releases.may_read(db.session, actor, r)}
            assert {r.id for r in releases.listing(db.session, actor)} == allowed, actor.role
            shown = {r.id for r in releases.published(db.session, actor)}
            assert shown == {r.id for r in made if r.id in allowed and r.published_at is not None}, actor.role
        assert any(releases.listing(db.session, _user(a.id)) for a in readers)
        db.session.rollback()
