"""The test-side auditor on the demo data's real outputs: every page and release a coordinator
or member can see leaves each suppressed cell at least the threshold wide."""

from __future__ import annotations

import time
from datetime import date

from flask import Flask
from sqlalchemy import select

from referral.accounts.models import User
from referral.demo import seed
from referral.extensions import db
from referral.runtime import runtime
from referral.statistics import releases, services
from referral.statistics.queries import Window
from tests.helpers.lp_auditor import assert_protected


def test_demo_statistics_pages_and_a_release_pass_the_audit(app: Flask) -> None:
    with app.app_context():
        seed(db.session, runtime())
        db.session.commit()
        users = {u.username: u for u in db.session.scalars(select(User))}
        today = date.today()
        # three months: the test-side auditor models every month of every count, so it is kept small
        last = date(today.year, today.month, 1)
        window = Window(date(last.year - (last.month <= 2), (last.month - 3) % 12 + 1, 1), last)
        governorates = services.governorates(db.session)
        seen: list[object] = []
        for username, network in (
            ("coord.national", None),
            ("coord.national", "tubas"),
            ("coord.hebron", None),
            ("nbl.admin", None),
        ):
            actor = users[username]
            scope = services.scope_for(db.session, actor, network)
            started = time.perf_counter()
            view = services.compute(db.session, actor, scope, window)
            seen.append((username, network, round(time.perf_counter() - started, 2)))
            payload = services.to_payload(view)
            shown = services.protected_from_payload(payload)
            assert_protected(shown, view.threshold, complete_dims={"governorate": governorates})
            counts = [c["count"] for t in payload["tables"] for c in t["cells"]]
            assert all(c == "<5" or c == 0 or (isinstance(c, int) and c >= 5) for c in counts)
            if network == "tubas":
                assert "<5" in counts  # a small network: there is something to protect
        # a release protected together with an earlier, overlapping published one
        coordinator = users["coord.hebron"]
        first = releases.prepare(db.session, coordinator, None, window)
        first.state, first.published_at = "published", first.prepared_at
        db.session.flush()
        # periods overlapping it: each is either protected together with it, or refused when what it
        # published already pins a small count of the new period (then nothing is released)
        protected_together = 0
        for other in (
            Window(window.first, window.first),
            window.previous(),
            Window(window.previous().first, window.last),
        ):
            try:
                second = releases.prepare(db.session, coordinator, None, other)
            except releases.NotProtectable:
                continue
            both = services.protected_from_payload(first.payload, "a") + services.protected_from_payload(
                second.payload, "b"
            )
            assert_protected(both, first.threshold, complete_dims={"governorate": governorates})
            protected_together += 1
        assert protected_together
        db.session.rollback()
        print(seen)  # the time each view took, for the log
