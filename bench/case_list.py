"""The cost of the cipher on the case list: 50 cases loaded with decryption, against the same
query with the cipher switched off.

    .venv/bin/python bench/case_list.py [--cases 2000] [--rounds 9] [--repetitions 40]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench .venv/bin/python bench/case_list.py

Seeds one organisation with N cases whose identifying and confidential fields are filled as a
real case file would be (every one encrypted under the organisation's data key), then times,
interleaved round by round, the newest-50 query of the case list (`list_cases`' ordering):

- decrypted:    full `Case` rows through the ORM; every encrypted column decrypts on load
                (what `list_cases` returns today);
- cipher off:   the same query and rows, with the decrypt-on-load hook removed (values stay
                sealed bytes): the same SQL, the same bytes, only decryption missing;
- masked names: full rows but every encrypted column deferred except `full_name` (what a list
                showing masked names needs);
- clear only:   `load_only` of the clear columns (no ciphertext fetched at all).

Reports the median over rounds of the mean time per list, and the ratios against "cipher off"
with the goal of 1.15x. Uses a temporary SQLite database unless BENCH_DATABASE_URL is set
(PostgreSQL: the schema is migrated to head, the benchmark's organisation is removed at the end
unless --keep). Writes bench/results/case_list-*.json.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from _common import ms, per_call_ns, summary, table, us, write_results
from sqlalchemy import delete, event, inspect, select
from sqlalchemy.orm import defer, load_only

from config import Settings
from referral import create_app
from referral.accounts.models import User
from referral.cases.models import AGE_GROUPS, GBV_TYPES, PERPETRATOR_RELATIONSHIPS, RISK_LEVELS, Case
from referral.cases.services import LIST_COLUMNS
from referral.directory import services as directory
from referral.directory.models import Network, NetworkMembership, Organization
from referral.extensions import db
from referral.models_base import new_id, utcnow
from referral.runtime import runtime
from referral.security.crypto import blind_index
from referral.security.fields import Sealed, _decrypt_loaded, encrypted_attributes
from referral.security.models import DataKey

GOAL = 1.15
PAGE = 50
STATUSES = ("intake", "assessment", "action_plan", "implementation", "follow_up", "closed")
NAMES = ("زينب", "فاطمة", "مريم", "عائشة", "سلمى", "هدى", "رنا", "ليلى", "نور", "سعاد")
FAMILIES = ("الخطيب", "النجار", "حمدان", "عودة", "الشريف", "داود", "يوسف", "صالح")


# ---------------------------------------------------------------------------------- seeding
def _case_values(rng: random.Random, i: int) -> dict[str, Any]:
    status = rng.choice(STATUSES)
    age_group = rng.choice(AGE_GROUPS[1:4])
    values: dict[str, Any] = {
        "full_name": f"{rng.choice(NAMES)} {rng.choice(NAMES)} {rng.choice(FAMILIES)}",
        "national_id": f"{rng.randrange(10**8, 10**9)}",
        "date_of_birth": f"{rng.randrange(1960, 2008)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        "phone": f"059{rng.randrange(10**6, 10**7)}",
        "address": f"حي {rng.choice(FAMILIES)}، شارع {rng.randrange(1, 90)}، قرب المسجد الكبير، "
        f"الطابق {rng.randrange(1, 5)}",
        "safe_contact": {
            "safe_to_call": True,
            "safe_to_text": rng.random() < 0.5,
            "safe_voicemail": False,
            "safe_hours": "09:00-12:00",
            "instructions": "اطلبي أم أحمد، لا تتركي رسالة",
        },
        "consent_for_services": {
            "given": True,
            "method": rng.choice(("written", "verbal")),
            "limits_explained": True,
            "recorded_by": new_id(),
            "recorded_at": utcnow().isoformat(),
        },
        "status": status,
        "age_group": age_group,
        "sex": "female",
        "disability": rng.random() < 0.1,
        "marital_status": rng.choice(("single", "married", "divorced")),
        "gbv_type": rng.choice(GBV_TYPES),
        "perpetrator_relationship": rng.choice(PERPETRATOR_RELATIONSHIPS),
        "risk_level": rng.choice(RISK_LEVELS),
    }
    if age_group == "12-17":
        values["caregiver"] = {"name": f"{rng.choice(NAMES)} {rng.choice(FAMILIES)}", "relation": "mother"}
    if status != "intake":
        values["assessment"] = {
            "needs": ["legal counselling", "psychosocial support", "shelter"][: rng.randrange(1, 4)],
            "immediate_danger": rng.random() < 0.2,
            "notes": "تحتاج إلى متابعة قانونية ودعم نفسي اجتماعي، وتخشى العودة إلى المنزل" * 2,
        }
    if status in ("action_plan", "implementation", "follow_up", "closed"):
        values["action_plan"] = {"actions": ["refer to legal aid", "psychosocial sessions", "follow-up call"]}
        values["safety_plan"] = "خطة السلامة: رقم الطوارئ محفوظ باسم آخر، حقيبة جاهزة عند الجارة، " * 3
    if status == "closed":
        values["closure"] = {"reason": "needs_met", "survivor_told_can_return": True, "notes": ""}
    return values


def seed(count: int, rng: random.Random) -> tuple[str, str, str]:
    """A network, an organisation, a caseworker and `count` cases; returns their ids."""
    token = secrets.token_hex(4)
    prefix = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(3))
    network = directory.create_network(
        db.session,
        None,
        governorate=f"bench_{''.join(chr(97 + int(c, 16)) for c in token)}",
        case_prefix=prefix,
        name_ar=f"شبكة القياس {token}",
        name_en=f"Bench network {token}",
    )
    org = directory.create_organization(
        db.session,
        None,
        directory.OrganizationInput(
            name_ar=f"مركز القياس {token}",
            name_en=f"Bench centre {token}",
            kind="civil",
            sectors=["legal_aid"],
            governorates=[network.governorate],
        ),
    )
    directory.add_member(db.session, None, network, org)
    worker = User(
        id=new_id(),
        organization_id=org.id,
        role="caseworker",
        username=f"bench_{token}",
        password_hash=runtime().passwords.hash(secrets.token_urlsafe(24)),  # nobody knows it
        must_change_password=True,
    )
    db.session.add(worker)
    db.session.commit()
    network_id, org_id, worker_id, governorate = network.id, org.id, worker.id, network.governorate

    index_key = runtime().keyring.index_key(org_id)
    start = utcnow() - timedelta(days=count)
    for first in range(0, count, 500):
        for i in range(first, min(first + 500, count)):
            values = _case_values(rng, i)
            db.session.add(
                Case(
                    id=new_id(),
                    case_code=f"{prefix}{token[:4]}-{i:06d}",
                    organization_id=org_id,
                    owner_id=worker_id,
                    governorate=governorate,
                    opened_at=start + timedelta(days=i, seconds=rng.randrange(86400)),
                    national_id_index=blind_index(index_key, "national_id", values["national_id"], "national_id"),
                    phone_index=blind_index(index_key, "phone", values["phone"], "phone"),
                    **values,
                )
            )
        db.session.commit()
        db.session.expunge_all()
    return network_id, org_id, worker_id


def remove(network_id: str, org_id: str, user_id: str) -> None:
    """Delete what `seed` made (its audit events stay: the audit trail is append-only)."""
    db.session.rollback()
    db.session.execute(delete(Case).where(Case.organization_id == org_id))
    db.session.execute(delete(User).where(User.id == user_id))
    db.session.execute(delete(NetworkMembership).where(NetworkMembership.organization_id == org_id))
    db.session.execute(delete(Organization).where(Organization.id == org_id))
    db.session.execute(delete(Network).where(Network.id == network_id))
    db.session.execute(delete(DataKey).where(DataKey.scope == org_id))
    db.session.commit()


# ---------------------------------------------------------------------------------- variants
@contextmanager
def cipher_off() -> Iterator[None]:
    """Remove the decrypt-on-load hook of `Case` for the duration (values stay `Sealed`)."""
    event.remove(Case, "load", _decrypt_loaded)
    event.remove(Case, "refresh", _decrypt_loaded)
    try:
        yield
    finally:
        event.listen(Case, "load", _decrypt_loaded)
        event.listen(Case, "refresh", _decrypt_loaded)


def variants(org_id: str) -> dict[str, tuple[str, Callable[[], list[Case]], bool]]:
    """name -> (label, one listing, whether it runs with the cipher off)."""
    encrypted = list(encrypted_attributes(inspect(Case)))
    clear = [c.key for c in inspect(Case).column_attrs if c.key not in encrypted]
    base = (
        select(Case).where(Case.organization_id == org_id).order_by(Case.opened_at.desc(), Case.id.desc()).limit(PAGE)
    )
    masked = base.options(*(defer(getattr(Case, a)) for a in encrypted if a != "full_name"))
    service_list = base.options(load_only(*LIST_COLUMNS))  # exactly what list_cases loads
    clear_only = base.options(load_only(*(getattr(Case, a) for a in clear)))

    def run(stmt: Any) -> Callable[[], list[Case]]:
        def listing() -> list[Case]:
            db.session.expunge_all()  # so that every row really loads (and decrypts) again
            rows = list(db.session.scalars(stmt))
            assert len(rows) == PAGE
            return rows

        return listing

    return {
        "case_list": ("the case list as list_cases loads it, decrypted", run(service_list), False),
        "case_list_off": ("the same case list, cipher off", run(service_list), True),
        "decrypted": ("full rows, every encrypted column decrypted", run(base), False),
        "cipher_off": ("same query, cipher off (values left sealed)", run(base), True),
        "masked_names": ("full_name decrypted, other encrypted deferred", run(masked), False),
        "clear_only": ("load_only clear columns (no ciphertext)", run(clear_only), False),
    }


def check(org_id: str, runs: dict[str, tuple[str, Callable[[], list[Case]], bool]]) -> int:
    """Each variant returns what it claims; returns the number of values decrypted per list."""
    rows = runs["decrypted"][1]()
    assert isinstance(rows[0].full_name, str)
    decrypted = sum(
        1 for row in rows for a in encrypted_attributes(inspect(Case)) if inspect(row).dict.get(a) is not None
    )
    with cipher_off():
        assert isinstance(runs["cipher_off"][1]()[0].full_name, Sealed)
    masked = runs["masked_names"][1]()
    assert isinstance(inspect(masked[0]).dict["full_name"], str) and "safety_plan" not in inspect(masked[0]).dict
    return decrypted


def measure(
    runs: dict[str, tuple[str, Callable[[], list[Case]], bool]], rounds: int, repetitions: int
) -> dict[str, list[float]]:
    """Interleaved: in every round each variant runs `repetitions` times, so drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _label, fn, off in runs.values():  # warm-up
        with cipher_off() if off else _nothing():
            per_call_ns(fn, max(3, repetitions // 4))
    for _ in range(rounds):
        for name, (_label, fn, off) in runs.items():
            with cipher_off() if off else _nothing():
                samples[name].append(per_call_ns(fn, repetitions))
    return samples


@contextmanager
def _nothing() -> Iterator[None]:
    yield


# ---------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2_000, help="cases to seed (default 2,000)")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (the median is reported)")
    parser.add_argument("--repetitions", type=int, default=40, help="listings per variant per round")
    parser.add_argument("--seed", type=int, default=18_2013, help="random seed of the data")
    parser.add_argument("--keep", action="store_true", help="keep the seeded rows (BENCH_DATABASE_URL only)")
    args = parser.parse_args()
    if args.cases < PAGE:
        parser.error(f"--cases must be at least {PAGE}")

    url = os.environ.get("BENCH_DATABASE_URL")
    workdir = Path(tempfile.mkdtemp(prefix="shabaka-bench-"))
    database_url = url or f"sqlite:///{workdir / 'bench.db'}"
    settings = Settings.for_tests(database_url, workdir, log_level="WARNING")
    app = create_app(settings)
    backend = settings.database_url.split(":", 1)[0]
    try:
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            began = time.perf_counter()
            ids = seed(args.cases, random.Random(args.seed))
            seeded_in = time.perf_counter() - began
            print(f"seeded {args.cases} cases on {backend} in {seeded_in:.1f} s")
            try:
                runs = variants(ids[1])
                per_list = check(ids[1], runs)
                samples = measure(runs, args.rounds, args.repetitions)
            finally:
                if url and not args.keep:
                    remove(*ids)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)

    medians = {name: statistics.median(values) for name, values in samples.items()}
    off = medians["cipher_off"]
    paired = {
        name: statistics.median(a / b for a, b in zip(samples[name], samples["cipher_off"], strict=True))
        for name in samples
    }
    rows = []
    for name, (label, _fn, _off) in runs.items():
        rows.append([label, ms(medians[name]), f"{medians[name] / off:.2f}x", f"{paired[name]:.2f}x"])
    ratio = medians["case_list"] / medians["case_list_off"]
    full_ratio = medians["decrypted"] / off
    per_value = (medians["decrypted"] - off) / per_list
    print(
        f"newest {PAGE} of {args.cases} cases; {per_list} encrypted values per list; "
        f"median of {args.rounds} rounds x {args.repetitions} listings"
    )
    print(table(["variant", "median", "vs cipher off", "paired ratio"], rows))
    verdict = "meets" if ratio <= GOAL else "MISSES"
    print(f"case list decrypted / cipher off = {ratio:.2f}x: {verdict} the goal of {GOAL}x")
    print(f"full rows (every encrypted column) decrypted / cipher off = {full_ratio:.2f}x")
    print(f"decryption adds {us(medians['decrypted'] - off)} per list, {us(per_value)} per value through the ORM")
    masked_ratio = medians["masked_names"] / medians["clear_only"]
    print(f"masked names / clear columns only = {masked_ratio:.2f}x (a list that decrypts only what it shows)")
    path = write_results(
        "case_list",
        {
            "backend": backend,
            "cases": args.cases,
            "page": PAGE,
            "encrypted_values_per_list": per_list,
            "rounds": args.rounds,
            "repetitions": args.repetitions,
            "seeded_seconds": round(seeded_in, 2),
            "goal_ratio": GOAL,
            "variants": {
                name: {
                    "label": label,
                    **{f"{k}_ns" if k != "rounds" else k: v for k, v in summary(samples[name]).items()},
                }
                for name, (label, _fn, _off) in runs.items()
            },
            "ratio_vs_cipher_off": {name: medians[name] / off for name in medians},
            "paired_ratio_vs_cipher_off": paired,
            "decrypt_added_ns_per_value": per_value,
            "masked_names_over_clear_only": masked_ratio,
            "case_list_ratio": ratio,
            "full_rows_ratio": full_ratio,
            "meets_goal": ratio <= GOAL,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
