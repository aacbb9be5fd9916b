"""A statistical history for the demo: fourteen months of closed cases of every network whose
personal data retention has already erased (only their statistical fields remain, as after a
real purge), and their referrals between the network's members in finished states. It gives
the statistics pages real trends, small cells and suppression to show; nobody's name is in it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from .cases.models import AGE_GROUPS, GBV_TYPES, PERPETRATOR_RELATIONSHIPS, REPORTING_DELAYS, Case
from .models_base import DbSession, new_id, utcnow
from .referrals.models import DECLINE_REASONS, Referral
from .referrals.services import RESPONSE_TARGETS as TARGET

SEED = 20261203
# Larger networks see more cases; the small ones give the pages their suppressed cells.
CASES_PER_MONTH = {"nablus": 9, "hebron": 11, "tulkarm": 5, "jericho": 3, "tubas": 2, "qalqilya": 4}


def _weighted(rng: random.Random, options: tuple[str, ...], weights: tuple[int, ...]) -> str:
    return rng.choices(options, weights=weights, k=1)[0]


def seed_history(session: DbSession, prefixes: dict[str, str], members: dict[str, dict[str, str]]) -> int:
    """`prefixes`: governorate -> case prefix; `members`: governorate -> {organisation key: id}
    (an owner's user id is taken from `members[g]["owner"]`). Returns the number of cases."""
    rng = random.Random(SEED)  # noqa: S311 (fictional demo data, the same every time)
    now = utcnow()
    made = 0
    for governorate, per_month in CASES_PER_MONTH.items():
        orgs = members.get(governorate)
        if not orgs:
            continue
        senders = [k for k in ("legal", "mosd", "hospital", "police", "counselling") if k in orgs]
        receivers = [
            k for k in ("mosd", "legal", "shelter", "hospital", "counselling", "police", "prosecution") if k in orgs
        ]
        for months_ago in range(14, 0, -1):
            start = datetime(now.year, now.month, 1, tzinfo=UTC) - timedelta(days=30 * months_ago)
            for _ in range(max(0, per_month + rng.randint(-2, 2))):
                made += 1
                owner_key = rng.choice(senders)
                opened = start + timedelta(days=rng.randrange(0, 28), hours=rng.randrange(8, 16))
                # every history case is closed and purged: no nameless open case in anybody's list
                closed = min(opened + timedelta(days=rng.choice((12, 25, 50, 80, 120, 200))), now - timedelta(days=1))
                if closed <= opened:
                    continue
                risk = _weighted(rng, ("high", "medium", "low"), (2, 5, 3))
                case = Case(
                    id=new_id(),
                    case_code=f"{prefixes[governorate]}-{opened.year}-9{made:05d}",
                    organization_id=orgs[owner_key],
                    owner_id=orgs["owner"],
                    status="closed",
                    opened_at=opened,
                    closed_at=closed,
                    purged_at=now,
                    governorate=governorate,
                    age_group=_weighted(rng, AGE_GROUPS, (1, 2, 4, 10, 1)),
                    sex="female",
                    disability=rng.random() < 0.08,
                    marital_status=None,
                    gbv_type=_weighted(rng, GBV_TYPES, (1, 2, 8, 2, 3, 9, 1)),
                    perpetrator_relationship=_weighted(
                        rng, PERPETRATOR_RELATIONSHIPS, (12, 2, 6, 1, 1, 0, 1, 1, 1, 1, 1)
                    ),
                    risk_level=risk,
                    reporting_delay=_weighted(rng, REPORTING_DELAYS, (5, 2, 3, 2, 2, 1)),
                    statistics_consent=rng.random() < 0.92,
                    assessed_at=opened + timedelta(days=2),
                    safety_plan_at=opened + timedelta(days=3) if risk == "high" and rng.random() < 0.8 else None,
                    plan_approved_at=opened + timedelta(days=6) if rng.random() < 0.7 else None,
                )
                session.add(case)
                if rng.random() < 0.6 and len(receivers) > 1:
                    to_key = rng.choice([k for k in receivers if k != owner_key])
                    _referral(session, rng, case, orgs[owner_key], orgs[to_key], orgs["owner"], now)
    session.flush()
    return made


def _referral(
    session: DbSession, rng: random.Random, case: Case, sender: str, receiver: str, by: str, now: datetime
) -> None:
    priority = _weighted(rng, ("emergency", "urgent", "normal"), (2, 4, 6))
    sent = case.opened_at + timedelta(days=rng.randrange(1, 6))
    target = TARGET[priority]
    answered: datetime | None = sent + target * rng.choice((0.1, 0.2, 0.4, 0.7, 0.9, 1.5, 2.5))
    state = _weighted(rng, ("completed", "declined", "closed_unresolved", "withdrawn"), (14, 4, 1, 1))
    assert answered is not None
    closed: datetime | None = answered + timedelta(days=rng.randrange(3, 40))
    if answered > now:  # not answered yet
        state, answered, closed = "sent", None, None
    elif closed is not None and closed > now:  # answered, still being delivered
        state, closed = "in_progress", None
    session.add(
        Referral(
            id=new_id(),
            case_id=case.id,
            case_code=case.case_code,
            from_organization_id=sender,
            to_organization_id=receiver,
            priority=priority,
            state=state,
            field_groups=[],
            created_by=by,
            created_at=sent,
            sent_at=sent,
            due_at=sent + target,
            answered_at=answered if state != "withdrawn" else None,
            closed_at=closed,
            decline_reason=_weighted(rng, DECLINE_REASONS, (4, 2, 2, 1, 1, 1, 1)) if state == "declined" else None,
        )
    )
