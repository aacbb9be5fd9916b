"""Network coordination in a real browser, in Arabic: Tubas's coordinator schedules the monthly
meeting (a series), the member organisations' representatives confirm, she records attendance,
minutes and two action points, circulates and approves the minutes; an action point's owner gets
its reminder from the follow-up engine and closes it in the browser, and it leaves the next
meeting's first item. axe on every coordination, plan and case conference page on the way, at
phone and desktop widths, with screenshots at 390, 1024 and 1280 px in /tmp/shots/.

The Arabic catalogue of these pages is written on another branch: the assertions read structure,
ids, states, `dir="rtl"` and the data typed here, never translated words."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from referral.extensions import db
from tests.helpers.browser import DESKTOP, PHONE

SHOTS = Path("/tmp/shots")
WIDTHS = (390, 1024, 1280)
AXE_WIDTHS = (390, 1280)

SERIES_TITLE = "الاجتماع الشهري لشبكة الخليل"
PLACE = "قاعة المحافظة، الخليل"
ITEM = "التحديات التي تواجهها النساء"
DISCUSSION = "ناقشت الشبكة صعوبة الوصول إلى الخدمات القانونية"
DECISION = "تنظيم تدريب مشترك للعاملات في الخط الأول"
POINT_LEGAL = "إرسال قائمة المحامين المتطوعين إلى الأعضاء"
POINT_MOSD = "تحديث دليل خدمات الإيواء"
CLOSING_NOTE = "أُرسلت القائمة بالبريد إلى جميع الأعضاء"
DELEGATE = "منى يوسف، مرشدة اجتماعية"


def _look(page: Any, check_a11y: Any, name: str) -> None:
    """axe at phone and desktop width (failing on serious problems), and screenshots at 390, 1024
    and 1280 px into /tmp/shots/; the page is left at its first size."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    first = page.viewport_size
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        if width in AXE_WIDTHS:
            check_a11y(page, f"{name}-{width}")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{name} at {width} px is {overflow} px wider than the screen"
    page.set_viewport_size(first)


def _context(browser: Any, live_server: str, viewport: dict[str, int] = DESKTOP) -> Any:
    context = browser.new_context(locale="ar-PS", viewport=viewport, base_url=live_server)
    context.set_default_timeout(20_000)  # two passes share two cores in CI
    return context


def _tubas(app: Flask) -> dict[str, str]:
    """Ids of Tubas's network, its two member organisations and the demo users used here."""
    from referral.accounts.models import User
    from referral.directory.models import Network

    with app.app_context():
        users = dict(db.session.execute(select(User.username, User.id)).all())
        orgs = dict(db.session.execute(select(User.username, User.organization_id)).all())
        net = db.session.scalar(select(Network.id).where(Network.governorate == "tubas"))
    return {
        "network": str(net),
        "legal": str(orgs["tbs.caseworker"]),
        "mosd": str(orgs["tbs.mosd"]),
        **{name: str(uid) for name, uid in users.items()},
    }


def _sweep_at(app: Flask, moment: Any) -> None:
    """The reminder engine's sweep and exactly-once delivery at `moment` (as the worker runs them)."""
    from referral.followups import clocks

    with app.app_context():
        ids = clocks.sweep(db.session, moment)
        db.session.commit()
        clocks.deliver_many(db.session, ids, moment)
        db.session.commit()


def _make_packs(app: Flask) -> None:
    """What the worker does with each queued pack (`workers.generate_meeting_pack`)."""
    from referral.coordination import pack
    from referral.coordination.models import MeetingPack

    with app.app_context():
        queued = list(db.session.scalars(select(MeetingPack.id).where(MeetingPack.state == "queued")))
        db.session.rollback()
        for pack_id in queued:
            pack.generate(db.session, str(pack_id), commit=db.session.commit)
            db.session.commit()


def _pdf_text(data: bytes) -> str:
    import io

    from pypdf import PdfReader

    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


def _rung(app: Flask, point_id: str, step: str) -> Any:
    from referral.followups.models import ReminderStep

    with app.app_context():
        found = db.session.scalar(
            select(ReminderStep).where(
                ReminderStep.clock == "action_point", ReminderStep.target_id == point_id, ReminderStep.step == step
            )
        )
        assert found is not None, f"no {step} rung for the action point"
        return found.due_at


def _point_id(app: Flask, description: str) -> str:
    from referral.coordination.models import ActionPoint

    with app.app_context():
        return str(db.session.scalar(select(ActionPoint.id).where(ActionPoint.description == description)))


def test_the_monthly_meeting_from_its_schedule_to_a_closed_action_point(
    app: Flask,
    page: Any,
    browser: Any,
    live_server: str,
    demo_network: dict[str, Any],
    check_a11y: Any,
    sign_in_and_enrol: Any,
) -> None:
    from referral.accounts.models import User
    from referral.coordination import services

    ids = _tubas(app)
    # The Ministry's administrator names its representative through the services; the legal
    # centre's administrator does it in the browser below.
    with app.app_context():
        admin = db.session.get(User, ids["tbs.mosd.admin"])
        services.name_representative(db.session, admin, ids["network"], ids["tbs.mosd"])
        db.session.commit()

    admin_context = _context(browser, live_server)
    try:
        other = admin_context.new_page()
        sign_in_and_enrol(other, "tbs.admin", demo_network["tbs.admin"].password)
        other.goto(f"/coordination/networks/{ids['network']}")
        form = other.get_by_test_id("representative-form")
        form.locator("select").select_option(ids["tbs.caseworker"])
        _look(other, check_a11y, "coordination-network-org-admin")
        form.locator("button[type=submit]").click()
        expect(other.get_by_test_id("representatives")).to_contain_text("tbs.caseworker")
        expect(other.get_by_test_id("representatives")).to_contain_text("tbs.mosd")
    finally:
        admin_context.close()

    # The coordinator schedules the monthly meeting as a series.
    coordinator = demo_network["coord.tubas"]
    sign_in_and_enrol(page, coordinator.username, coordinator.password)
    page.goto("/coordination/")
    expect(page.get_by_test_id("coordination-networks")).to_be_visible()
    _look(page, check_a11y, "coordination-index")
    page.get_by_test_id("coordination-networks").locator(f"a[href$='{ids['network']}']").click()
    page.wait_for_url(f"**/coordination/networks/{ids['network']}")
    _look(page, check_a11y, "coordination-network")
    first_day = date.today() + timedelta(days=1)
    series = page.get_by_test_id("series-form")
    series.locator("[name=title]").fill(SERIES_TITLE)
    series.locator("[name=recurrence]").select_option("monthly_day")
    series.locator("[name=day_of_month]").fill(str(first_day.day))
    series.locator("[name=local_time]").fill("10:00")
    series.locator("[name=first_on_or_after]").fill(first_day.isoformat())
    series.locator("[name=duration_minutes]").fill("120")
    series.locator("[name=place]").fill(PLACE)
    series.locator("button[type=submit]").click()
    page.wait_for_url(f"**/coordination/networks/{ids['network']}")
    expect(page.locator(".alert-success")).to_be_visible()
    upcoming = page.get_by_test_id("upcoming").locator("a", has_text=SERIES_TITLE)
    expect(upcoming).to_have_count(1)
    upcoming.click()
    page.wait_for_url("**/coordination/meetings/*")
    meeting_url = page.url
    expect(page.locator("main h1")).to_have_text(SERIES_TITLE)
    expect(page.locator("main")).to_contain_text(PLACE)
    expect(page.locator("main")).to_contain_text(first_day.isoformat())
    invitations = page.get_by_test_id("invitations").locator("li")
    expect(invitations).to_have_count(2)
    expect(page.get_by_test_id("review-points-empty")).to_be_visible()
    page.get_by_test_id("agenda-form").locator("[name=title]").fill(ITEM)
    page.get_by_test_id("agenda-form").locator("[name=minutes]").fill("30")
    page.get_by_test_id("agenda-form").locator("button[type=submit]").click()
    page.wait_for_url(meeting_url)
    expect(page.get_by_test_id("agenda").locator("li")).to_have_count(2)
    expect(page.get_by_test_id("agenda").locator("li").nth(1)).to_contain_text(ITEM)
    expect(page.get_by_test_id("minutes-state")).to_contain_text("v1")
    _look(page, check_a11y, "coordination-meeting-draft")

    # The representatives answer on their phones: she attends; the Ministry delegates. The legal
    # centre's representative stays signed in: she owns an action point below.
    owner_context = _context(browser, live_server, PHONE)
    owner = owner_context.new_page()
    for username, answer in (("tbs.caseworker", "attending"), ("tbs.mosd", "delegating")):
        context = owner_context if username == "tbs.caseworker" else _context(browser, live_server, PHONE)
        try:
            rep = owner if username == "tbs.caseworker" else context.new_page()
            sign_in_and_enrol(rep, username, demo_network[username].password)
            rep.goto(meeting_url)
            response = rep.get_by_test_id("response-form")
            response.locator(f"input[name=response][value={answer}]").check()
            if answer == "delegating":
                response.locator("[name=delegate_name]").fill(DELEGATE)
            _look(rep, check_a11y, f"coordination-meeting-representative-{username.replace('.', '-')}")
            response.locator("button[type=submit]").click()
            rep.wait_for_url(meeting_url)
            expect(rep.locator(".alert-success")).to_be_visible()
            expect(rep.get_by_test_id("ics-link")).to_be_visible()
        finally:
            if context is not owner_context:
                context.close()
    with app.app_context():
        from referral.coordination.models import Invitation

        meeting_id = meeting_url.rsplit("/", 1)[1]
        answers = dict(
            db.session.execute(
                select(Invitation.user_id, Invitation.response).where(Invitation.meeting_id == meeting_id)
            ).all()
        )
    assert answers == {ids["tbs.caseworker"]: "attending", ids["tbs.mosd"]: "delegating"}
    page.reload()
    expect(page.get_by_test_id("invitations")).to_contain_text(DELEGATE)

    # Attendance per organisation, with the names and roles typed.
    for org, who, role in ((ids["legal"], "سارة محمود", "محامية"), (ids["mosd"], "منى يوسف", "مرشدة اجتماعية")):
        row = page.get_by_test_id("attendance").locator("tr", has=page.locator(f"#status-{org}"))
        row.locator(f"#status-{org}").select_option("attended")
        row.locator(f"#rep-{org}").fill(who)
        row.locator(f"#role-{org}").fill(role)
        row.locator("button[type=submit]").click()
        page.wait_for_url(meeting_url)
        expect(page.get_by_test_id("attendance")).to_contain_text(who)
        expect(page.locator(f"#status-{org}")).to_have_value("attended")
    expect(page.get_by_test_id("quorum")).to_contain_text("2")

    # The minutes of the added item, then two action points from it.
    minutes = page.get_by_test_id("minutes-form")
    minutes.locator("textarea[name^=discussion-]").nth(1).fill(DISCUSSION)
    minutes.locator("textarea[name^=decisions-]").nth(1).fill(DECISION)
    minutes.locator("button[type=submit]").click()
    page.wait_for_url(meeting_url)
    expect(page.get_by_test_id("minutes")).to_contain_text(DISCUSSION)
    expect(page.get_by_test_id("minutes-form").locator("textarea[name^=decisions-]").nth(1)).to_have_value(DECISION)
    due = first_day + timedelta(days=21)
    for description, org, person in ((POINT_LEGAL, ids["legal"], ids["tbs.caseworker"]), (POINT_MOSD, ids["mosd"], "")):
        form = page.get_by_test_id("action-point-form")
        form.locator("[name=description]").fill(description)
        form.locator("[name=agenda_item_id]").select_option(index=2)
        form.locator("[name=owner_organization_id]").select_option(org)
        form.locator("[name=owner_user_id]").select_option(person)
        form.locator("[name=due_date]").fill(due.isoformat())
        form.locator("[name=priority]").select_option("high")
        form.locator("button[type=submit]").click()
        page.wait_for_url(meeting_url)
        expect(page.get_by_test_id("meeting-points")).to_contain_text(description)
    expect(page.get_by_test_id("meeting-points").locator("tbody tr")).to_have_count(2)

    page.locator("form[action$='/minutes/circulate'] button[type=submit]").click()
    page.wait_for_url(meeting_url)
    expect(page.locator("form[action$='/minutes/approve']")).to_be_visible()
    _look(page, check_a11y, "coordination-meeting-circulated")
    page.locator("form[action$='/minutes/approve'] button[type=submit]").click()
    page.wait_for_url(meeting_url)
    expect(page.get_by_test_id("minutes-form")).to_have_count(0)  # approved minutes are read-only
    expect(page.get_by_test_id("agenda-form")).to_have_count(0)
    expect(page.locator("form[action$='/minutes/reopen']")).to_be_visible()
    expect(page.get_by_test_id("minutes")).to_contain_text(DECISION)
    _look(page, check_a11y, "coordination-meeting-approved")

    # The meeting pack: asked for on the page, made by the worker's task (run here, as the sweep
    # is), its status row polls itself to "ready", and its Arabic PDF holds the Arabic text.
    pack_section = page.get_by_test_id("pack-section")
    pack_section.locator("form button[type=submit]").click()
    page.wait_for_url(f"{meeting_url}#pack")
    status = page.get_by_test_id("pack-status").first
    expect(status).to_have_attribute("data-state", "queued")
    _make_packs(app)
    expect(status).to_have_attribute("data-state", "ready", timeout=20_000)  # htmx polls every 2 s
    _look(page, check_a11y, "coordination-meeting-pack")
    pdf = page.request.get(status.get_by_test_id("pack-pdf-ar").get_attribute("href"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    drawn = _pdf_text(pdf.body())
    with app.app_context():
        from referral.directory.models import Network

        network_ar = db.session.get(Network, ids["network"]).name_ar
    # shaped Arabic comes back from the PDF as its letters, not in order: compared letter by letter
    for written in (network_ar, POINT_LEGAL, POINT_MOSD):
        assert set(written.replace(" ", "")) <= set(drawn), written

    # The next meeting of the series lists both open points in its first item.
    page.goto(f"/coordination/networks/{ids['network']}")
    page.locator("form[action*='/coordination/series/'] button[type=submit]").click()
    page.wait_for_url("**/coordination/meetings/*")
    next_url = page.url
    assert next_url != meeting_url
    legal_id, mosd_id = _point_id(app, POINT_LEGAL), _point_id(app, POINT_MOSD)
    review = page.get_by_test_id("review-points")
    expect(review.locator(f"tr[data-action-point='{legal_id}']")).to_have_count(1)
    expect(review.locator(f"tr[data-action-point='{mosd_id}']")).to_have_count(1)

    # The reminder engine tells the legal centre's person the working day before it is due.
    try:
        from referral.followups.models import Notification

        def reminders() -> int:
            with app.app_context():
                return len(
                    db.session.scalars(
                        select(Notification).where(
                            Notification.user_id == ids["tbs.caseworker"], Notification.kind == "action_point.reminder"
                        )
                    ).all()
                )

        before = _rung(app, legal_id, "before")
        _sweep_at(app, before - timedelta(minutes=1))  # (the demo's own referral reminders go out)
        assert reminders() == 0
        _sweep_at(app, before)
        _sweep_at(app, before + timedelta(minutes=5))
        assert reminders() == 1  # exactly once
        owner.reload()
        owner.locator(".navbar-toggler").click()  # the phone's menu
        expect(owner.get_by_test_id("unread-count")).to_be_visible()
        owner.get_by_test_id("notifications-link").click()
        owner.wait_for_url("**/notifications*")
        with app.app_context():
            reminder_id = db.session.scalar(
                select(Notification.id).where(
                    Notification.user_id == ids["tbs.caseworker"], Notification.kind == "action_point.reminder"
                )
            )
        newest = owner.get_by_test_id("notification-list").locator("li").first.locator("a")
        expect(newest).to_have_attribute("href", re.compile(rf"{reminder_id}"))
        _look(owner, check_a11y, "coordination-notifications-owner")
        newest.click()
        owner.wait_for_url(re.compile(rf".*/coordination/meetings/.*#ap-{legal_id}$"))
        expect(owner.locator(f"#ap-{legal_id}")).to_contain_text(POINT_LEGAL)

        owner.goto("/coordination/action-points?owner=mine")
        row = owner.locator(f"#ap-{legal_id}")
        expect(row).to_contain_text(POINT_LEGAL)
        expect(owner.locator(f"#ap-{mosd_id}")).to_have_count(0)  # the Ministry's, not hers
        _look(owner, check_a11y, "coordination-action-points-owner")
        row.locator("select[name$=status]").select_option("done")
        row.locator("textarea[name$=note]").fill(CLOSING_NOTE)
        row.locator("button[type=submit]").click()
        owner.wait_for_url("**/coordination/action-points")
        expect(owner.locator(".alert-success")).to_be_visible()
        expect(owner.locator(f"#ap-{legal_id}")).to_contain_text(CLOSING_NOTE)
        expect(owner.locator(f"#ap-{legal_id} form")).to_have_count(0)  # closed: no more updates
        _look(owner, check_a11y, "coordination-action-points-closed")
    finally:
        owner_context.close()
    with app.app_context():
        from referral.coordination.models import ActionPoint

        assert db.session.get(ActionPoint, legal_id).status == "done"

    # It leaves the next meeting's first item; the Ministry's stays.
    page.goto(next_url)
    review = page.get_by_test_id("review-points")
    expect(review.locator(f"tr[data-action-point='{legal_id}']")).to_have_count(0)
    expect(review.locator(f"tr[data-action-point='{mosd_id}']")).to_have_count(1)
    _look(page, check_a11y, "coordination-next-meeting")
    page.goto("/coordination/action-points")
    expect(page.get_by_test_id("action-points").locator("tbody tr")).to_have_count(2)
    _look(page, check_a11y, "coordination-action-points-coordinator")
    page.goto("/coordination/action-points?overdue=1")
    _look(page, check_a11y, "coordination-action-points-overdue")


def test_every_plan_page_is_accessible_in_arabic(
    app: Flask, page: Any, demo_network: dict[str, Any], check_a11y: Any, sign_in_and_enrol: Any
) -> None:
    from referral.accounts.models import User
    from referral.plans import services as plans

    ids = _tubas(app)
    year = date.today().year
    with app.app_context():
        coordinator = db.session.get(User, ids["coord.tubas"])
        plan = plans.create_plan(db.session, coordinator, ids["network"], year)
        activity = plans.add_activity(
            db.session,
            coordinator,
            plan.id,
            plans.ActivityInput(
                title="تدريب على مسار الإحالة",
                activity_type="training",
                responsible_organization_id=ids["legal"],
                partner_organization_ids=[ids["mosd"]],
                planned_start=f"{year}-{date.today().month:02d}-01",
                planned_end=f"{year}-{date.today().month:02d}-02",
                governorate="tubas",
                target_sectors=["health"],
                target_participants=20,
            ),
        )
        db.session.commit()
        plan_id, activity_id = str(plan.id), str(activity.id)

    sign_in_and_enrol(page, "coord.tubas", demo_network["coord.tubas"].password)
    page.goto("/plans")
    expect(page.get_by_test_id("plan-list")).to_contain_text(str(year))
    _look(page, check_a11y, "plans-index")
    page.goto(f"/plans/{plan_id}")
    expect(page.get_by_test_id("activity-list")).to_contain_text("تدريب على مسار الإحالة")
    _look(page, check_a11y, "plans-plan")
    page.goto(f"/plans/{plan_id}/calendar")
    expect(page.get_by_test_id("calendar")).to_contain_text("تدريب على مسار الإحالة")
    _look(page, check_a11y, "plans-calendar")
    page.goto(f"/plans/activities/{activity_id}")
    expect(page.locator("main")).to_contain_text("تدريب على مسار الإحالة")
    _look(page, check_a11y, "plans-activity")
    page.goto(f"/plans/{plan_id}/activities/new")
    _look(page, check_a11y, "plans-activity-new")
    page.locator("main form[method=post] button[type=submit]").last.click()  # empty: refused
    expect(page.locator("main .is-invalid").first).to_be_visible()
    _look(page, check_a11y, "plans-activity-new-refused")
    page.goto(f"/plans/activities/{activity_id}/edit")
    _look(page, check_a11y, "plans-activity-edit")


def test_every_case_conference_page_is_accessible_for_chair_owner_and_participant(
    app: Flask, browser: Any, live_server: str, factory: Any, check_a11y: Any, sign_in_and_enrol: Any
) -> None:
    from referral.conferences import services as conferences
    from referral.models_base import utcnow
    from tests.helpers.cases import Org, World, open_case, user
    from tests.helpers.referrals import consent, refer

    net = factory.network()

    def org() -> Org:
        o = factory.organization(net)
        return Org(
            o.id,
            factory.user("caseworker", o, enrolled=False),
            factory.user("caseworker", o, enrolled=False),
            factory.user("supervisor", o, enrolled=False),
            factory.user("org_admin", o, enrolled=False),
        )

    mine, other = org(), org()
    chair = factory.user("coordinator", factory.organization(net), network=net, enrolled=False)
    world = World(net.governorate, mine, other, chair, chair, chair)
    case_id = open_case(app, world, risk_level="high")
    consent_id = consent(app, world, case_id, field_groups=["contact", "assessment"])
    refer(app, world, case_id, consent_id, field_groups=["contact", "assessment"])
    with app.app_context():
        from referral.cases.models import Case

        code = db.session.get(Case, case_id).case_code
        found = conferences.convene(
            db.session,
            user(mine.supervisor),
            conferences.ConveneInput(
                case_code=code,
                grounds="high_risk",
                minutes_allotted=15,
                starts_at=utcnow() + timedelta(days=2),
                place="قاعة الاجتماعات ٢",
            ),
        )
        db.session.commit()
        conference_id = str(found.id)

    for name, account in (("owner", mine.supervisor), ("chair", chair), ("participant", other.supervisor)):
        context = _context(browser, live_server)
        try:
            page = context.new_page()
            sign_in_and_enrol(page, account.username, account.password)
            page.goto("/conferences")
            expect(page.get_by_test_id("conference-list")).to_be_visible()
            _look(page, check_a11y, f"conferences-index-{name}")
            page.goto(f"/conferences/{conference_id}")
            expect(page.locator("main")).to_contain_text(code)
            _look(page, check_a11y, f"conferences-show-{name}")
            if name == "owner":
                page.goto(f"/conferences/new?case={case_id}")
                _look(page, check_a11y, "conferences-new")
        finally:
            context.close()


def test_the_coordinators_homes_and_the_pack_are_accessible_in_arabic(
    app: Flask, browser: Any, live_server: str, demo_network: dict[str, Any], check_a11y: Any, sign_in_and_enrol: Any
) -> None:
    """Nablus's coordinator's home (the demo's year of meetings), the national coordinator's
    comparison of networks, and a meeting pack read on the screen."""
    from referral.accounts.models import User
    from referral.coordination import pack
    from referral.coordination.models import Meeting
    from referral.directory.models import Network

    with app.app_context():
        nablus = db.session.scalar(select(Network.id).where(Network.governorate == "nablus"))
        held = db.session.scalar(
            select(Meeting.id).where(Meeting.network_id == nablus).order_by(Meeting.starts_at.desc()).offset(1)
        )
        coordinator = db.session.scalar(select(User).where(User.username == "coord.nablus"))
        pack_id = str(pack.request_pack(db.session, coordinator, str(held)).id)
        db.session.commit()
        pack.generate(db.session, pack_id, commit=db.session.commit)
        db.session.commit()
    for username, pages in (
        ("coord.nablus", (("/", "home-coordinator"), (f"/coordination/packs/{pack_id}", "pack-view"))),
        ("coord.national", (("/", "home-national"),)),
    ):
        context = _context(browser, live_server)
        try:
            page = context.new_page()
            sign_in_and_enrol(page, username, demo_network[username].password)
            for path, name in pages:
                page.goto(path)
                if name == "home-coordinator":
                    expect(page.get_by_test_id("next-meeting")).to_be_visible()
                    expect(page.get_by_test_id("overdue-points")).to_be_visible()
                _look(page, check_a11y, name)
        finally:
            context.close()
