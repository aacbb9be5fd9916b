"""The reference data set: six protection networks over three years, at real size, on PostgreSQL.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_ds \\
        .venv/bin/python bench/dataset.py --scale full|small [--reuse] [--seed N]

Migrates the schema to head, empties the database and loads, with COPY, what six networks
(tubas, hebron, jericho, tulkarm, qalqilya, nablus) of 20 member organisations each hold after
36 months: a few large organisations and many small ones; 1,000 users in every role, all able
to sign in (password `BENCH_PASSWORD`, two-step sign-in enrolled with `BENCH_TOTP_SECRET`);
200,000 cases with realistic distributions (risk levels, GBV types, steps, about 60% closed),
their case teams, incidents, consents and transitions; 400,000 referrals in every state with
their assignments and transitions; 1,000,000 follow-ups with their reminder steps (the past
ones delivered, so a reminder sweep has nothing due); notifications; 2,000,000 audit events
chained and sealed exactly as the app's sealer does, with signed checkpoints; the meetings,
attendance, action points, activity plans and case conferences of the networks; and the
statistics snapshots the worker keeps. `--scale small` is a tenth of everything but the
networks, organisations and their staff.

Every encrypted column a real row fills holds real ciphertext: AES-256-GCM under the owning
organisation's data key (created in `data_key`, wrapped by `BENCH_ROOT_KEY`, as the app makes
them), bound to its table, column, row and organisation; national id and phone carry their
blind indexes. An application that reads the data set must run with the bench keys: see
`settings()` (in-process) and `environ()` (a gunicorn or Celery process).

Python: `dataset.ensure(url, scale="small")` builds unless that scale is there and returns the
manifest (also written to bench/results/dataset-<dbname>.json): the counts per table, the build
time, the database size after VACUUM ANALYZE, and a sample of ids and usernames for benchmarks.
Refuses the database `test`.
"""

# ruff: noqa: E402  (the application's folder goes on sys.path first, as _common does)
from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

import argparse
import base64
import hashlib
import itertools
import json
import math
import os
import random
import struct
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import _common
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from config import Settings
from referral.cases.models import GBV_TYPES, PERPETRATOR_RELATIONSHIPS, REPORTING_DELAYS
from referral.enums import GOVERNORATES, SECTORS
from referral.followups.models import KINDS as FOLLOWUP_KINDS
from referral.referrals.models import DECLINE_REASONS
from referral.security import keys as keyring
from referral.security.crypto import associated_data, blind_index
from referral.security.passwords import PasswordHashing
from referral.text import clean_phone, with_check_digit

# ------------------------------------------------------------------------------ the bench secrets
# Fixed and public: the data set is fictional, and every process that reads it must hold them.
BENCH_PASSWORD = "Bench-Shabaka-2026-password"  # noqa: S105 (public: fictional data only)
BENCH_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 (base32, 32 characters as the app makes)
BENCH_ROOT_KEY = hashlib.sha256(b"shabaka bench root key (fictional data only)").digest()
BENCH_AUDIT_SIGNING_KEY = hashlib.sha256(b"shabaka bench audit signing key (fictional data only)").digest()


@dataclass(frozen=True)
class Scale:
    name: str
    cases: int
    referrals: int
    followups: int
    audit_events: int
    users: int  # at least the organisations' staff and the platform's roles, whatever this says
    months: int = 36


SCALES = {
    "full": Scale("full", 200_000, 400_000, 1_000_000, 2_000_000, 1_000),
    "small": Scale("small", 20_000, 40_000, 100_000, 200_000, 100),
    "tiny": Scale("tiny", 300, 600, 1_500, 3_000, 0),  # the test's: seconds
}

PREFIXES = {"tubas": "TUB", "hebron": "HEB", "jericho": "JER", "tulkarm": "TUL", "qalqilya": "QAL", "nablus": "NAB"}
# share of the cases per network (Hebron and Nablus are the big governorates)
NETWORK_WEIGHT = {"tubas": 0.10, "hebron": 0.30, "jericho": 0.08, "tulkarm": 0.15, "qalqilya": 0.12, "nablus": 0.25}
# the main sectors of a network's 20 organisations, from the largest to the smallest
ORG_SECTORS = (
    "psychosocial", "social", "health", "police", "legal_aid", "psychosocial", "social", "shelter",
    "justice", "legal_aid", "psychosocial", "health", "economic", "social", "psychosocial", "legal_aid",
    "other", "economic", "social", "psychosocial",
)  # fmt: skip
ORG_KIND = {"police": "governmental", "justice": "governmental", "health": "governmental"}
TARGET_HOURS = {"emergency": 24, "urgent": 72, "normal": 14 * 24}
AUDITORS = 3


_CUMULATIVE: dict[int, tuple[dict[Any, float], list[Any], list[float]]] = {}


def weighted(rng: random.Random, table_: dict[Any, float]) -> Any:
    """A key of the table drawn with its weight (the cumulative weights of a table kept)."""
    found = _CUMULATIVE.get(id(table_))
    if found is None or found[0] is not table_:
        if len(_CUMULATIVE) > 256:
            _CUMULATIVE.clear()
        found = _CUMULATIVE[id(table_)] = (table_, list(table_), list(itertools.accumulate(table_.values())))
    return rng.choices(found[1], cum_weights=found[2])[0]


AGE = {"0-11": 3, "12-17": 12, "18-24": 24, "25-59": 55, "60+": 5, None: 1}
SEX = {"female": 94, "male": 6}
DISABILITY = {True: 8, False: 90, None: 2}
MARITAL = {"married": 55, "single": 20, "divorced": 8, "separated": 6, "widowed": 4, "engaged": 3, "unknown": 4}
GBV = dict(
    zip(GBV_TYPES, (5, 10, 30, 6, 12, 30, 7), strict=True)
)  # rape, sexual_assault, physical, forced_marriage, denial, psychological, non_gbv
PERP = dict(zip(PERPETRATOR_RELATIONSHIPS, (45, 7, 20, 3, 2, 0.5, 4, 4, 5, 6, 3.5), strict=True))
RISK = {"high": 20, "medium": 45, "low": 35}
DELAY = {**dict(zip(REPORTING_DELAYS, (30, 10, 15, 12, 13, 15), strict=True)), None: 5}
OPEN_STATUS = {
    "intake": 10, "assessment": 15, "action_plan": 15, "implementation": 30, "follow_up": 20,
    "closure_pending": 5, "reopened": 5,
}  # fmt: skip
DECLINE = dict(zip(DECLINE_REASONS, (35, 20, 15, 8, 12, 5, 5), strict=True))
# the steps a case goes through, in order, up to its status
CASE_PATH = ("intake", "assessment", "action_plan", "implementation", "follow_up", "closure_pending", "closed")
NAMES = ("زينب", "فاطمة", "مريم", "عائشة", "سلمى", "هدى", "رنا", "ليلى", "نور", "سعاد", "آمنة", "خديجة", "رهف", "دعاء")
FAMILIES = ("الخطيب", "النجار", "حمدان", "عودة", "الشريف", "داود", "يوسف", "صالح", "عمرو", "الجعبري", "سلامة")


# ------------------------------------------------------------------------------ settings for readers
def settings(database_url: str, instance_path: Path, **overrides: Any) -> Settings:
    """Settings of an application that reads the data set: the bench root key (so its values
    decrypt), the bench audit signing key, and the production cost of argon2 (so a sign-in
    verifies the stored hash as deployed and does not rewrite it)."""
    defaults = {f.name: f.default for f in fields(Settings)}
    base = Settings.for_tests(
        database_url,
        instance_path,
        root_key=BENCH_ROOT_KEY,
        audit_signing_key=BENCH_AUDIT_SIGNING_KEY,
        argon2_time_cost=defaults["argon2_time_cost"],
        argon2_memory_kib=defaults["argon2_memory_kib"],
        argon2_parallelism=defaults["argon2_parallelism"],
        log_level="WARNING",
    )
    return replace(base, **overrides)


def environ() -> dict[str, str]:
    """The environment of a web or worker process serving the data set (REFERRAL_ROOT_KEY,
    AUDIT_SIGNING_KEY, AUDIT_PUBLIC_KEY): add it to the process's own."""
    from referral.security import signing

    public = signing.Signer(BENCH_AUDIT_SIGNING_KEY).public_key
    return {
        "REFERRAL_ROOT_KEY": base64.b64encode(BENCH_ROOT_KEY).decode(),
        "AUDIT_SIGNING_KEY": base64.b64encode(BENCH_AUDIT_SIGNING_KEY).decode(),
        "AUDIT_PUBLIC_KEY": base64.b64encode(public).decode(),
    }


# ------------------------------------------------------------------------------ progress and COPY
class Progress:
    """One line on stderr per table, rewritten in place: rows, rows/s and the time left."""

    def __init__(self, name: str, total: int | None) -> None:
        self.name, self.total, self.done = name, total, 0
        self.began = self.shown = time.perf_counter()

    def add(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.shown >= 0.25:
            self.shown = now
            self._show(now, final=False)

    def _show(self, now: float, final: bool) -> None:
        took = max(now - self.began, 1e-9)
        rate = self.done / took
        if final:
            tail = f"in {took:6.1f} s"
        elif self.total:
            left = max(self.total - self.done, 0) / rate if rate else 0.0
            tail = f"ETA {left:5.0f} s"
        else:
            tail = ""
        of = f"/{self.total:,}" if self.total and not final else ""
        line = f"\r  {self.name:<24} {self.done:>10,}{of} rows  {rate:>9,.0f} rows/s  {tail}"
        sys.stderr.write(line.ljust(92) + ("\n" if final else ""))
        sys.stderr.flush()

    def finish(self) -> float:
        now = time.perf_counter()
        self._show(now, final=True)
        return now - self.began


def copy(
    conn: Any, table: str, columns: Iterable[str], rows: Iterable[tuple[Any, ...]], total: int | None = None
) -> tuple[int, float]:
    """COPY the rows into the table with a progress line; returns (rows, seconds)."""
    progress = Progress(table, total)
    n = 0
    names = ", ".join(columns)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as pipe:
        write = pipe.write_row
        for row in rows:
            write(row)
            n += 1
            if not n & 1023:
                progress.add(1024)
    progress.done = n
    return n, progress.finish()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _sealed_json(value: Any) -> bytes:
    """What an encrypted JSON column encrypts (`fields._encode`)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _id() -> str:
    return str(uuid.uuid4())


def _before(moment: datetime, limit: datetime) -> datetime | None:
    return moment if moment < limit else None


def add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


# ------------------------------------------------------------------------------ the cipher
_HEADER = struct.Struct(">BI")
_FORMAT_VERSION = 1  # crypto.FORMAT_VERSION


class Sealer:
    """Each organisation's data key and index key, made and wrapped as the app's keyring makes
    them; seals values in the app's stored format with one AESGCM object per key."""

    def __init__(self) -> None:
        self.root = keyring.LocalRootKeys(BENCH_ROOT_KEY)
        self._data: dict[str, tuple[bytes, AESGCM]] = {}  # scope -> (header, cipher)
        self._index: dict[str, bytes] = {}
        self.rows: list[tuple[str, str, int, str, bytes, datetime]] = []

    def create(self, conn: Any, scopes: list[str], at: datetime) -> None:
        made: dict[tuple[str, str], bytes] = {}
        rows = []
        for scope in scopes:
            for purpose in (keyring.DATA, keyring.INDEX):
                key = os.urandom(32)
                probe = keyring.KeyRow(0, scope, purpose, 1, "", b"")
                root_id, wrapped = self.root.wrap(key, keyring._associated(probe))
                made[(scope, purpose)] = key
                rows.append((scope, purpose, 1, root_id, wrapped, at))
        copy(conn, "data_key", ["scope", "purpose", "version", "root_key_id", "wrapped", "created_at"], rows)
        for key_id, scope, purpose in conn.execute("SELECT id, scope, purpose FROM data_key"):
            key = made.get((scope, purpose))
            if key is None:
                continue
            if purpose == keyring.DATA:
                self._data[scope] = (_HEADER.pack(_FORMAT_VERSION, key_id), AESGCM(key))
            else:
                self._index[scope] = key

    def seal(self, table: str, column: str, row_id: str, organization_id: str, data: bytes) -> bytes:
        header, aead = self._data[organization_id]
        nonce = os.urandom(12)
        return header + nonce + aead.encrypt(nonce, data, associated_data(table, column, row_id, organization_id))

    def text(self, table: str, column: str, row_id: str, organization_id: str, value: str) -> bytes:
        return self.seal(table, column, row_id, organization_id, value.encode())

    def index(self, organization_id: str, column: str, value: str) -> str | None:
        return blind_index(self._index[organization_id], column, value, column)


# ------------------------------------------------------------------------------ the world being built
@dataclass
class Org:
    id: str
    governorate: str
    rank: int  # 0 = the largest of its network
    sector: str
    weight: float
    caseworkers: list[str] = field(default_factory=list)
    supervisors: list[str] = field(default_factory=list)
    admin: str = ""
    services: list[str] = field(default_factory=list)


@dataclass
class CaseRow:
    id: str
    code: str
    org: Org
    owner: str
    opened: datetime
    closed: datetime | None
    status: str
    risk: str
    minor: bool
    consent: str | None = None
    consent_orgs: list[str] = field(default_factory=list)


@dataclass
class World:
    url: str
    scale: Scale
    rng: random.Random
    now: datetime
    start: datetime
    sealer: Sealer = field(default_factory=Sealer)
    networks: dict[str, str] = field(default_factory=dict)  # governorate -> id
    orgs: dict[str, list[Org]] = field(default_factory=dict)  # governorate -> orgs by rank
    org_by_id: dict[str, Org] = field(default_factory=dict)
    users: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id -> (username, role, org)
    coordinators: dict[str, str] = field(default_factory=dict)  # governorate (or "national") -> id
    auditors: list[str] = field(default_factory=list)
    sysadmin: str = ""
    cases: list[CaseRow] = field(default_factory=list)
    referrals: list[tuple[Any, ...]] = field(default_factory=list)  # what later steps need of each
    followups: list[tuple[str, CaseRow, datetime, str, datetime | None]] = field(default_factory=list)
    audit_begins: datetime | None = None
    took: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def put(self, table: str, result: tuple[int, float]) -> None:
        self.counts[table] = self.counts.get(table, 0) + result[0]
        self.took[table] = self.took.get(table, 0.0) + result[1]


# ------------------------------------------------------------------------------ directory and staff
def _password_hash() -> str:
    """One real argon2id hash of BENCH_PASSWORD at the production cost, reused by every user."""
    defaults = {f.name: f.default for f in fields(Settings)}
    hasher = PasswordHashing(
        defaults["argon2_time_cost"], defaults["argon2_memory_kib"], defaults["argon2_parallelism"]
    )
    return hasher.hash(BENCH_PASSWORD)


def build_directory(conn: Any, w: World) -> None:
    rng, start = w.rng, w.start
    w.networks = {g: _id() for g in GOVERNORATES}
    w.put(
        "network",
        copy(
            conn,
            "network",
            ["id", "governorate", "case_prefix", "name_ar", "name_en", "active", "created_at"],
            [(w.networks[g], g, PREFIXES[g], f"شبكة {g}", f"{g.title()} network", True, start) for g in GOVERNORATES],
        ),
    )
    org_rows, member_rows, service_rows = [], [], []
    for g in GOVERNORATES:
        w.orgs[g] = []
        for rank, sector in enumerate(ORG_SECTORS):
            second = rng.choice([s for s in SECTORS if s != sector]) if rng.random() < 0.4 else None
            sectors = [sector, second] if second else [sector]
            org = Org(_id(), g, rank, sector, NETWORK_WEIGHT[g] / (rank + 1) ** 1.1)
            w.orgs[g].append(org)
            w.org_by_id[org.id] = org
            org_rows.append(
                (org.id, f"منظمة {g} {rank + 1}", f"{g.title()} organisation {rank + 1:02d}",
                 ORG_KIND.get(sector, "civil"), _json(sectors), _json([g]), True, True, start)
            )  # fmt: skip
            member_rows.append((_id(), w.networks[g], org.id, start))
            for k in range(rng.choice((1, 1, 2, 3))):
                sid, s_sector = _id(), sectors[k % len(sectors)]
                org.services.append(sid)
                service_rows.append(
                    (sid, org.id, f"خدمة {k + 1}", f"Service {k + 1} of {g} {rank + 1}", "", "", s_sector, _json([g]),
                     "", _json(["ar"]), "", "available", True, "[]", False, "", "", True, start, start)
                )  # fmt: skip
    w.put(
        "organization",
        copy(
            conn,
            "organization",
            [
                "id",
                "name_ar",
                "name_en",
                "kind",
                "sectors",
                "governorates",
                "accepts_referrals",
                "active",
                "created_at",
            ],
            org_rows,
        ),
    )
    w.put(
        "network_membership",
        copy(conn, "network_membership", ["id", "network_id", "organization_id", "joined_at"], member_rows),
    )
    w.put(
        "service",
        copy(
            conn,
            "service",
            ["id", "organization_id", "name_ar", "name_en", "description_ar", "description_en", "sector",
             "governorates", "eligibility", "languages", "opening_hours", "capacity_status", "accepting_referrals",
             "focal_points", "confidential_location", "front_door", "address", "active", "created_at", "updated_at"],
            service_rows,
        ),
    )  # fmt: skip
    w.sealer.create(conn, list(w.org_by_id), start)
    w.counts["data_key"] = 2 * len(w.org_by_id)


def build_users(conn: Any, w: World) -> None:
    """A caseworker, a supervisor and an admin per organisation; more caseworkers (and a second
    supervisor for every five of them) in the large organisations, up to the scale's users; a
    coordinator per network and a national one; auditors; a system administrator."""
    plan: list[tuple[str, str, str, str | None]] = []  # username, role, org id, network id
    all_orgs = [o for g in GOVERNORATES for o in w.orgs[g]]
    for o in all_orgs:
        nn = f"{o.governorate}_{o.rank + 1:02d}"
        plan += [(f"bench_caseworker_{nn}", "caseworker", o.id, None)]
        plan += [(f"bench_supervisor_{nn}", "supervisor", o.id, None)]
        plan += [(f"bench_org_admin_{nn}", "org_admin", o.id, None)]
    home = w.orgs["nablus"][0].id  # the platform's staff sit in the largest Nablus organisation
    for g in GOVERNORATES:
        plan.append((f"bench_coordinator_{g}", "coordinator", w.orgs[g][0].id, w.networks[g]))
    plan.append(("bench_coordinator_national", "coordinator", home, None))
    plan += [(f"bench_auditor_{k}", "auditor", home, None) for k in range(1, AUDITORS + 1)]
    plan.append(("bench_sysadmin", "sysadmin", home, None))
    extra = max(w.scale.users - len(plan), 0)
    total_weight = sum(o.weight for o in all_orgs)
    for o in all_orgs:
        share = round(extra * o.weight / total_weight)
        nn = f"{o.governorate}_{o.rank + 1:02d}"
        for k in range(2, share + 2):
            if k % 6 == 0:
                plan.append((f"bench_supervisor_{nn}_{k // 6 + 1}", "supervisor", o.id, None))
            else:
                plan.append((f"bench_caseworker_{nn}_{k}", "caseworker", o.id, None))
    password = _password_hash()
    secret = BENCH_TOTP_SECRET.encode()
    enrolled = w.start
    rows = []
    for username, role, org_id, network_id in plan:
        uid = _id()
        w.users[uid] = (username, role, org_id)
        org = w.org_by_id[org_id]
        if role == "caseworker":
            org.caseworkers.append(uid)
        elif role == "supervisor":
            org.supervisors.append(uid)
        elif role == "org_admin":
            org.admin = uid
        elif role == "coordinator":
            w.coordinators[username.removeprefix("bench_coordinator_")] = uid
        elif role == "auditor":
            w.auditors.append(uid)
        else:
            w.sysadmin = uid
        sealed = w.sealer.seal("user_account", "totp_secret", uid, org_id, secret)
        rows.append(
            (uid, org_id, network_id, role, username, "ar", True, password, enrolled, False, sealed, enrolled, None,
             enrolled)
        )  # fmt: skip
    w.put(
        "user_account",
        copy(
            conn,
            "user_account",
            ["id", "organization_id", "network_id", "role", "username", "locale", "active", "password_hash",
             "password_changed_at", "must_change_password", "totp_secret", "totp_enrolled_at", "totp_last_step",
             "created_at"],
            rows,
        ),
    )  # fmt: skip


# ------------------------------------------------------------------------------ cases
def _identity(rng: random.Random) -> tuple[str, str, str, str, str]:
    name = f"{rng.choice(NAMES)} {rng.choice(NAMES)} {rng.choice(FAMILIES)}"
    national_id = with_check_digit(f"{rng.randrange(10**7, 10**8)}")
    born = f"{rng.randrange(1960, 2008)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    phone = clean_phone(f"059{rng.randrange(10**6, 10**7)}") or ""
    address = f"حي {rng.choice(FAMILIES)}، شارع {rng.randrange(1, 90)}، الطابق {rng.randrange(1, 5)}"
    return name, national_id, born, phone, address


def build_cases(conn: Any, w: World) -> None:
    rng, now, start, sealer = w.rng, w.now, w.start, w.sealer
    span = (now - start).total_seconds()
    gov_w = list(itertools.accumulate(NETWORK_WEIGHT[g] for g in GOVERNORATES))
    org_w = {g: list(itertools.accumulate(o.weight for o in w.orgs[g])) for g in GOVERNORATES}
    numbers: dict[tuple[str, int], int] = defaultdict(int)
    safe_contacts = [
        _sealed_json({"safe_to_call": True, "safe_to_text": t, "safe_voicemail": False, "safe_hours": h,
                      "instructions": i})
        for t in (True, False) for h in ("09:00-12:00", "10:00-13:00", "16:00-18:00")
        for i in ("اطلبي أم أحمد، لا تتركي رسالة", "")
    ]  # fmt: skip
    needs = ["legal counselling", "psychosocial support", "shelter", "medical care", "economic support"]
    closures = [_sealed_json({"reason": r, "survivor_told_can_return": True, "notes": ""})
                for r in ("needs_met", "survivor_request", "moved", "no_contact")]  # fmt: skip
    action_plans = [_sealed_json({"actions": a}) for a in (
        ["refer to legal aid", "psychosocial sessions", "follow-up call"],
        ["safety planning", "refer to shelter"], ["medical referral", "psychosocial sessions"])]  # fmt: skip
    safety = ("خطة السلامة: رقم الطوارئ محفوظ باسم آخر، حقيبة جاهزة عند الجارة. " * 3).encode()
    members: list[tuple[Any, ...]] = []
    transitions: list[tuple[Any, ...]] = []
    incidents: list[tuple[Any, ...]] = []

    def rows() -> Iterator[tuple[Any, ...]]:
        for _ in range(w.scale.cases):
            g = rng.choices(GOVERNORATES, cum_weights=gov_w)[0]
            org = rng.choices(w.orgs[g], cum_weights=org_w[g])[0]
            owner = rng.choice(org.caseworkers)
            opened = start + timedelta(seconds=span * rng.random() ** 0.85)  # slowly growing
            numbers[(g, opened.year)] += 1
            code = f"{PREFIXES[g]}-{opened.year}-{numbers[(g, opened.year)]:06d}"
            risk = weighted(rng, RISK)
            closed_at: datetime | None = opened + timedelta(days=rng.lognormvariate(math.log(60), 0.9))
            if closed_at is not None and closed_at < now and rng.random() < 0.66:
                status = "closed"
            else:
                status, closed_at = weighted(rng, OPEN_STATUS), None
            later = status != "intake"
            assessed = _before(opened + timedelta(days=rng.expovariate(1 / 3)), now) if later else None
            safety_at = (
                _before(opened + timedelta(days=rng.expovariate(1 / 5)), now)
                if later and risk != "low" and rng.random() < 0.7
                else None
            )
            planned = status not in ("intake", "assessment") and rng.random() < 0.8
            approved = (
                _before(opened + timedelta(days=7 + rng.expovariate(1 / 7)), now)
                if planned and (status != "action_plan" or rng.random() < 0.4) and rng.random() < 0.9
                else None
            )
            age = weighted(rng, AGE)
            cid = _id()
            supervisor = org.supervisors[0]
            w.cases.append(CaseRow(cid, code, org, owner, opened, closed_at, status, risk, age in ("0-11", "12-17")))
            members.append((_id(), cid, owner, "owner", opened))
            if len(org.caseworkers) > 1 and rng.random() < 0.2:
                other = rng.choice(org.caseworkers)
                if other != owner:
                    members.append((_id(), cid, other, "member", opened + timedelta(days=rng.random() * 5)))
            # the path to its status, one transition a step
            path = CASE_PATH[: CASE_PATH.index(status) + 1] if status in CASE_PATH else (*CASE_PATH, status)
            at, previous = opened, None
            end = closed_at or now
            for step_status in path:
                transitions.append((_id(), cid, previous, step_status, owner, at, None))
                previous = step_status
                at = min(at + (end - at) * rng.random() * 0.5, end)
            name, national_id, born, phone, address = _identity(rng)
            org_id = org.id

            def s(column: str, data: bytes, cid: str = cid, org_id: str = org_id) -> bytes:
                return sealer.seal("case_file", column, cid, org_id, data)

            consent_for_services = _sealed_json(
                {"given": True, "method": rng.choice(("written", "verbal")), "limits_explained": True,
                 "recorded_by": owner, "recorded_at": opened.isoformat()}
            )  # fmt: skip
            assessment = (
                _sealed_json({"needs": needs[: rng.randrange(1, 5)], "immediate_danger": risk == "high",
                              "notes": "تحتاج إلى متابعة قانونية ودعم نفسي اجتماعي، وتخشى العودة إلى المنزل"})
                if later else None
            )  # fmt: skip
            caregiver = (
                _sealed_json({"name": f"{rng.choice(NAMES)} {rng.choice(FAMILIES)}", "relation": "mother"})
                if age in ("0-11", "12-17")
                else None
            )
            gbv = weighted(rng, GBV)
            perpetrator = weighted(rng, PERP)
            narrative = "رواية متخيّلة لبيانات القياس: " + rng.choice(
                ("تعرضت للضرب من الزوج", "تهديد مستمر من أحد أفراد الأسرة", "حرمان من الموارد والميراث",
                 "إساءة نفسية متكررة", "تحرش في مكان العمل")
            )  # fmt: skip
            iid = _id()
            incidents.append(
                (iid, cid, org_id, gbv, "[]", perpetrator, f"{opened:%Y-%m}",
                 sealer.text("incident", "narrative", iid, org_id, narrative), owner, opened)
            )  # fmt: skip
            yield (
                cid, code, org_id, owner, status, opened, closed_at or opened, closed_at, 1, g,
                s("full_name", name.encode()), s("national_id", national_id.encode()),
                s("date_of_birth", born.encode()), s("phone", phone.encode()), s("address", address.encode()),
                s("safe_contact", rng.choice(safe_contacts)),
                s("caregiver", caregiver) if caregiver else None,
                sealer.index(org_id, "national_id", national_id), sealer.index(org_id, "phone", phone),
                s("consent_for_services", consent_for_services), s("assessment", assessment) if assessment else None,
                s("action_plan", rng.choice(action_plans)) if planned else None,
                s("safety_plan", safety) if safety_at else None,
                s("closure", rng.choice(closures)) if status == "closed" else None,
                age, weighted(rng, SEX), weighted(rng, DISABILITY), weighted(rng, MARITAL), gbv, perpetrator, risk,
                weighted(rng, DELAY), rng.random() < 0.9, assessed, safety_at,
                owner if planned else None, supervisor if approved else None, approved,
                owner if status in ("closure_pending", "closed") else None,
                supervisor if status == "closed" else None,
            )  # fmt: skip

    w.put(
        "case_file",
        copy(
            conn,
            "case_file",
            ["id", "case_code", "organization_id", "owner_id", "status", "opened_at", "updated_at", "closed_at",
             "version", "governorate", "full_name", "national_id", "date_of_birth", "phone", "address", "safe_contact",
             "caregiver", "national_id_index", "phone_index", "consent_for_services", "assessment", "action_plan",
             "safety_plan", "closure", "age_group", "sex", "disability", "marital_status", "gbv_type",
             "perpetrator_relationship", "risk_level", "reporting_delay", "statistics_consent", "assessed_at",
             "safety_plan_at", "plan_submitted_by", "plan_approved_by", "plan_approved_at", "closure_requested_by",
             "closure_approved_by"],
            rows(),
            w.scale.cases,
        ),
    )  # fmt: skip
    w.put("case_member", copy(conn, "case_member", ["id", "case_id", "user_id", "role", "added_at"], members))
    w.put(
        "case_transition",
        copy(conn, "case_transition", ["id", "case_id", "from_status", "to_status", "actor_id", "at", "reason"],
             transitions),
    )  # fmt: skip
    w.put(
        "incident",
        copy(
            conn,
            "incident",
            ["id", "case_id", "organization_id", "gbv_type", "contexts", "perpetrator_relationship", "month",
             "narrative", "created_by", "created_at"],
            incidents,
        ),
    )  # fmt: skip
    w.put(
        "case_sequence",
        copy(conn, "case_sequence", ["prefix", "year", "last_number"],
             [(PREFIXES[g], year, n) for (g, year), n in numbers.items()]),
    )  # fmt: skip
    members.clear()
    transitions.clear()
    incidents.clear()


# ------------------------------------------------------------------------------ referrals
REASONS = (
    "تحتاج إلى استشارة قانونية بخصوص الحضانة",
    "دعم نفسي اجتماعي بعد حادثة عنف",
    "إيواء عاجل لخطر على الحياة",
    "فحص طبي وتوثيق الإصابات",
    "تمكين اقتصادي ومساعدة نقدية",
)
OUTCOMES = ("تلقت الخدمة كاملة", "حضرت الجلسات المقررة", "تم توفير الإيواء", "أحيلت إلى جهة أخرى")


def build_referrals(conn: Any, w: World) -> None:
    rng, now, sealer = w.rng, w.now, w.sealer
    consents: list[tuple[Any, ...]] = []
    assignments: list[tuple[Any, ...]] = []
    transitions: list[tuple[Any, ...]] = []
    groups = ["identity", "contact", "incident"]

    def consent_for(case: CaseRow) -> str:
        if case.consent is None:
            case.consent = _id()
            case.consent_orgs = [o.id for o in w.orgs[case.org.governorate] if o.id != case.org.id]
            org_id = case.org.id
            consents.append(
                (case.consent, case.id, org_id, "caregiver" if case.minor else "survivor",
                 rng.choice(("written", "verbal")), case.owner, case.opened, _json(case.consent_orgs),
                 _json(list(SECTORS)), _json(groups), "[]",
                 sealer.text("consent", "purpose", case.consent, org_id, "الإحالة إلى خدمات الشبكة"),
                 case.opened + timedelta(days=365 * 2), None, None, case.minor, True if case.minor else None, None)
            )  # fmt: skip
        return case.consent

    receivers = {}
    for o in w.org_by_id.values():
        others = [x for x in w.orgs[o.governorate] if x.id != o.id]
        receivers[o.id] = (others, list(itertools.accumulate(x.weight for x in others)))
    cases = w.cases
    picks = [rng.randrange(len(cases)) for _ in range(w.scale.referrals)]
    for at in sorted(set(picks)):  # the consent to share, recorded before the first referral
        consent_for(cases[at])
    w.put(
        "consent",
        copy(
            conn,
            "consent",
            ["id", "case_id", "organization_id", "given_by", "method", "recorded_by", "recorded_at",
             "organization_ids", "sectors", "field_groups", "withheld", "purpose", "expires_at", "withdrawn_at",
             "withdrawn_by", "minor", "minor_assent", "best_interest_reason"],
            consents,
        ),
    )  # fmt: skip
    consents.clear()

    def rows() -> Iterator[tuple[Any, ...]]:
        for at in picks:
            case = cases[at]
            sender = case.org
            if case.risk == "high":
                priority = weighted(rng, {"emergency": 35, "urgent": 40, "normal": 25})
            else:
                priority = weighted(rng, {"emergency": 5, "urgent": 27, "normal": 68})
            sent: datetime | None = case.opened + timedelta(days=rng.expovariate(1 / 10))
            assert sent is not None
            if sent >= now:
                sent = case.opened + (now - case.opened) * rng.random()
            target = TARGET_HOURS[priority]
            due: datetime | None = sent + timedelta(hours=target)
            to_org = service = external = decline = answered = closed = assigned = None
            if rng.random() < 0.08:
                external = rng.choice(SECTORS)
            else:
                others, cumulative = receivers[sender.id]
                receiver = rng.choices(others, cum_weights=cumulative)[0]
                to_org = receiver.id
                if rng.random() < 0.3:
                    service = rng.choice(receiver.services)
            roll = rng.random()
            if roll < 0.005:  # a draft: never sent
                state, sent, due = "draft", None, None
            elif roll < 0.025:  # never answered (the late ones that wait)
                state = "sent"
            else:
                answered = sent + timedelta(hours=rng.lognormvariate(math.log(target * 0.35), 1.0))
                if answered >= now:
                    state, answered = "sent", None
                elif rng.random() < 0.03:  # withdrawn before an answer
                    state, closed, answered = "withdrawn", answered, None
                elif rng.random() < 0.15:
                    state, closed, decline = "declined", answered, weighted(rng, DECLINE)
                else:
                    closed = answered + timedelta(days=rng.lognormvariate(math.log(20), 0.8))
                    if closed >= now:
                        state, closed = rng.choice(("accepted", "in_progress")), None
                    else:
                        state = weighted(rng, {"completed": 85, "closed_unresolved": 10, "withdrawn": 5})
            created = (sent or case.opened + timedelta(days=1)) - timedelta(minutes=rng.randrange(5, 120))
            if created < case.opened:
                created = case.opened
            rid = _id()
            actor = case.owner
            consent = case.consent if state != "draft" else None
            if to_org is not None and answered is not None and state not in ("declined", "withdrawn"):
                receiver_org = w.org_by_id[to_org]
                assigned = rng.choice(receiver_org.caseworkers)
                assignments.append(
                    (_id(), rid, to_org, assigned, receiver_org.supervisors[0], answered + timedelta(minutes=10))
                )
            # the transitions to its state
            steps: list[tuple[str | None, str, datetime, str, str]] = []
            if sent is not None:
                steps.append(("draft", "sent", sent, actor, sender.id))
                answer_by = w.org_by_id[to_org].supervisors[0] if to_org else actor
                answer_org = to_org or sender.id
                if state == "withdrawn":
                    assert closed is not None
                    steps.append(("sent" if answered is None else "in_progress", "withdrawn", closed, actor, sender.id))
                elif answered is not None:
                    if state == "declined":
                        steps.append(("sent", "declined", answered, answer_by, answer_org))
                    else:
                        steps.append(("sent", "accepted", answered, answer_by, answer_org))
                        if state != "accepted":
                            begun = answered + timedelta(hours=rng.expovariate(1 / 24))
                            steps.append(("accepted", "in_progress", begun, assigned or answer_by, answer_org))
                            if state in ("completed", "closed_unresolved") and closed is not None:
                                steps.append(("in_progress", state, closed, assigned or answer_by, answer_org))
            for from_state, to_state, at, by, org_id in steps:
                transitions.append((_id(), rid, from_state, to_state, by, org_id, at, None, None))
            # each side's last step, as the transitions keep it on the referral
            sender_step = max((at for *_, at, _by, org_id in steps if org_id == sender.id), default=None)
            receiver_step = max((at for *_, at, _by, org_id in steps if org_id == to_org), default=None)
            w.referrals.append((rid, case, to_org, state, sent, answered, closed, priority, assigned))
            s = sender.id
            yield (
                rid, case.id, case.code, s, to_org, service, priority, state, _json(groups), consent,
                sealer.text("referral", "reason", rid, s, rng.choice(REASONS)),
                sealer.text("referral", "outcome", rid, s, rng.choice(OUTCOMES)) if state == "completed" else None,
                decline, actor, created, sent, due, answered, closed, assigned,
                closed or answered or sent or created, 1,
                sealer.text("referral", "external_provider", rid, s, "جمعية خارج الشبكة") if external else None,
                external, sender_step, receiver_step,
            )  # fmt: skip

    w.put("referral", copy(
        conn,
        "referral",
        ["id", "case_id", "case_code", "from_organization_id", "to_organization_id", "service_id", "priority",
         "state", "field_groups", "consent_id", "reason", "outcome", "decline_reason", "created_by", "created_at",
         "sent_at", "due_at", "answered_at", "closed_at", "assigned_to", "updated_at", "version",
         "external_provider", "external_sector", "sender_step_at", "receiver_step_at"],
        rows(),
        w.scale.referrals,
    ))  # fmt: skip
    w.put(
        "referral_assignment",
        copy(conn, "referral_assignment", ["id", "referral_id", "organization_id", "user_id", "assigned_by", "at"],
             assignments),
    )  # fmt: skip
    w.put(
        "referral_transition",
        copy(
            conn,
            "referral_transition",
            ["id", "referral_id", "from_state", "to_state", "actor_id", "organization_id", "at", "reason", "note"],
            transitions,
        ),
    )  # fmt: skip


# ------------------------------------------------------------------------------ follow-ups
NOTES = ("الاتصال للاطمئنان على وضعها", "زيارة منزلية مع الأخصائية", "التأكد من حضور الجلسة", "مراجعة خطة السلامة")


def build_followups(conn: Any, w: World) -> None:
    """Follow-ups spread over each case's life (more for the long ones), chained one after the
    other: the past ones done (a few cancelled, a few overdue), the last one of an open case due
    in the coming weeks."""
    rng, now, sealer = w.rng, w.now, w.sealer
    ahead = timedelta(days=21)
    spans = [((c.closed or now + ahead) - c.opened).total_seconds() for c in w.cases]
    per_second = w.scale.followups / sum(spans)
    referrals_of: dict[str, list[str]] = defaultdict(list)
    for rid, case, *_rest in w.referrals:
        referrals_of[case.id].append(rid)

    def rows() -> Iterator[tuple[Any, ...]]:
        for case, span in zip(w.cases, spans, strict=True):
            expected = span * per_second
            k = int(expected) + (rng.random() < expected - int(expected))
            if not k:
                continue
            dues = sorted(case.opened + timedelta(seconds=span * rng.random()) for _ in range(k))
            previous = None
            org_id = case.org.id
            linked = referrals_of.get(case.id, [])
            for due in dues:
                fid = _id()
                created = max(case.opened, due - timedelta(days=rng.uniform(1, 14)))
                created = min(created, now)
                done_at = cancelled_at = None
                if due > now + timedelta(days=2):
                    state = "open"
                elif case.closed is not None or due < now - timedelta(days=3):
                    state = weighted(rng, {"done": 90, "cancelled": 8, "open": 2})
                else:
                    state = weighted(rng, {"done": 60, "open": 40})
                if state == "done":
                    done_at = min(due + timedelta(hours=rng.uniform(-30, 20)), now)
                    done_at = max(done_at, created)
                elif state == "cancelled":
                    cancelled_at = min(created + (due - created) * rng.random(), now)
                who = case.owner
                note = sealer.text("followup", "note", fid, org_id, rng.choice(NOTES)) if rng.random() < 0.7 else None
                done_note = (
                    sealer.text("followup", "done_note", fid, org_id, "تم التواصل، الوضع مستقر")
                    if done_at and rng.random() < 0.5
                    else None
                )
                w.followups.append((fid, case, due, state, done_at or cancelled_at))
                yield (
                    fid, case.id, rng.choice(linked) if linked and rng.random() < 0.3 else None, case.code, org_id,
                    rng.choice(FOLLOWUP_KINDS), due, who, note, done_note, state, previous, who, created,
                    done_at or cancelled_at or created, who if done_at else None, done_at,
                    who if cancelled_at else None, cancelled_at, 1,
                )  # fmt: skip
                previous = fid

    w.put(
        "followup",
        copy(
            conn,
            "followup",
            ["id", "case_id", "referral_id", "case_code", "organization_id", "kind", "due_at", "assignee_id", "note",
             "done_note", "state", "follows_id", "created_by", "created_at", "updated_at", "done_by", "done_at",
             "cancelled_by", "cancelled_at", "version"],
            rows(),
            w.scale.followups,
        ),
    )  # fmt: skip


# ------------------------------------------------------------------------------ reminders and notifications
FOLLOWUP_STEPS = (("before", -timedelta(hours=24)), ("due", timedelta(0)), ("escalate", timedelta(hours=48)))
REFERRAL_STEPS = (("half", 0.5), ("target", 1.0), ("twice", 2.0))
COMPLETION_HOURS = 30 * 24 * 7 / 5  # 30 working days (REFERRAL_COMPLETION_DAYS), as calendar hours
NOTIFIED_DAYS = 180  # the in-app notifications written: those of the last six months


def build_reminders(conn: Any, w: World) -> None:
    """The reminder ladder of every follow-up and referral clock, as the app writes it: the rungs
    due before the clock stopped (or before now) delivered, the later ones cancelled, those of a
    running clock still ahead pending; and the notifications the recent deliveries wrote."""
    rng, now = w.rng, w.now
    notified_from = now - timedelta(days=NOTIFIED_DAYS)
    notifications: list[tuple[Any, ...]] = []

    def tell(users: Iterable[str], kind: str, code: str | None, target_type: str, target: str, at: datetime,
             key: str | None) -> None:  # fmt: skip
        if at < notified_from:
            return
        for uid in users:
            read = at + timedelta(hours=rng.expovariate(1 / 20)) if rng.random() < 0.9 else None
            notifications.append(
                (_id(), uid, kind, code, target_type, target, f"{key}:{uid}" if key else None, at,
                 read if read is not None and read < now else None)
            )  # fmt: skip

    def ladder(
        clock: str, target: str, code: str, rungs: Iterable[tuple[str, datetime]], stopped: datetime | None,
        recipients: Callable[[str], list[str]], target_type: str,
    ) -> Iterator[tuple[Any, ...]]:  # fmt: skip
        from referral.followups.clocks import KINDS as STEP_KINDS

        for step, due in rungs:
            sid = _id()
            created = min(due, now)
            if due <= (stopped or now):
                sent = due + timedelta(seconds=rng.uniform(5, 60))
                users = recipients(step)
                tell(users, STEP_KINDS[(clock, step)], code, target_type, target, sent, f"step:{sid}")
                yield (sid, clock, target, step, code, due, "sent", sent, 1, sent, len(users), created)
            elif stopped is not None:
                yield (sid, clock, target, step, code, due, "cancelled", None, 0, None, None, created)
            else:
                yield (sid, clock, target, step, code, due, "pending", None, 0, None, None, created)

    def rows() -> Iterator[tuple[Any, ...]]:
        for fid, case, due, state, ended in w.followups:
            supervisors = case.org.supervisors[:1]

            def who(step: str, owner: str = case.owner, supervisors: list[str] = supervisors) -> list[str]:
                return supervisors if step == "escalate" else [owner]

            stopped = ended if state != "open" else None
            rungs = [(step, due + shift) for step, shift in FOLLOWUP_STEPS]
            yield from ladder("followup", fid, case.code, rungs, stopped, who, "followup")
        for rid, case, to_org, state, sent, answered, closed, priority, _assigned in w.referrals:
            if sent is None or to_org is None:
                continue
            receiver = w.org_by_id[to_org]
            coordinator = [w.coordinators[receiver.governorate]]

            def focal(step: str, receiver: Org = receiver, coordinator: list[str] = coordinator) -> list[str]:
                return coordinator if step == "twice" else receiver.supervisors

            hours = TARGET_HOURS[priority]
            stopped = answered or closed if state != "sent" else None
            rungs = [(step, sent + timedelta(hours=hours * f)) for step, f in REFERRAL_STEPS]
            yield from ladder("referral_response", rid, case.code, rungs, stopped, focal, "referral")
            if answered is not None and state != "declined":  # accepted: the completion clock runs
                done = closed if state not in ("accepted", "in_progress") else None
                rungs = [(step, answered + timedelta(hours=COMPLETION_HOURS * f)) for step, f in REFERRAL_STEPS]
                yield from ladder("referral_completion", rid, case.code, rungs, done, focal, "referral")
            # what each side is told as the referral moves (the recent ones)
            tell(receiver.supervisors, "referral.received", case.code, "referral", rid, sent, None)
            if answered is not None:
                kind = "referral.declined" if state == "declined" else "referral.accepted"
                tell([case.owner], kind, case.code, "referral", rid, answered, None)
            if closed is not None and state in ("completed", "closed_unresolved"):
                tell([case.owner], f"referral.{state}", case.code, "referral", rid, closed, None)

    w.put(
        "reminder_step",
        copy(
            conn,
            "reminder_step",
            ["id", "clock", "target_id", "step", "case_code", "due_at", "state", "claimed_at", "attempts", "sent_at",
             "recipients", "created_at"],
            rows(),
            3 * (len(w.followups) + 2 * len(w.referrals)),
        ),
    )  # fmt: skip
    notifications.sort(key=lambda n: n[7])
    w.put(
        "notification",
        copy(
            conn,
            "notification",
            ["id", "user_id", "kind", "case_code", "target_type", "target_id", "dedupe_key", "created_at", "read_at"],
            notifications,
        ),
    )  # fmt: skip
    w.put("reminder_sweep", copy(conn, "reminder_sweep", ["id", "last_run_at", "last_claimed"], [(1, now, 0)]))


# ------------------------------------------------------------------------------ the audit trail
# The content columns in the order the chain's encoder takes them (`chain._CONTENT`).
AUDIT_CONTENT = (
    "action", "actor_id", "actor_organization_id", "actor_role", "case_code", "details", "event_id", "object_id",
    "object_type", "occurred_at", "organization_id", "outcome", "reason", "request_id", "route",
)  # fmt: skip
STRUCTURAL_SHARE = 0.4  # of the trail: the events of actions; the rest are reads (views, lists, sign-ins)
CHECKPOINT_EVERY = timedelta(seconds=60)  # AUDIT_CHECKPOINT_SECONDS
SEAL_EVERY = timedelta(seconds=5)  # AUDIT_SEAL_SECONDS


def build_audit(conn: Any, w: World) -> None:
    """The audit trail of the most recent months, as long as the scale asks: every action's event
    (cases opened, referrals sent and answered, follow-ups made and done), and reads around them
    (the case viewed, the lists, the sign-ins), chained in time order exactly as the sealer does
    (`chain._encode_row`, the same bytes the verifier recomputes), with a checkpoint signed by the
    bench key after each sealing run at least a minute after the last one."""
    from referral.audit import chain, checkpoints
    from referral.security import signing

    assert tuple(chain._CONTENT) == AUDIT_CONTENT, "the audit chain's fields changed"
    rng, target = w.rng, w.scale.audit_events
    users = w.users
    # ---- where the trail begins: the structural events of the last months make up their share
    months: dict[tuple[int, int], int] = defaultdict(int)

    def month(at: datetime) -> tuple[int, int]:
        return (at.year, at.month)

    for c in w.cases:
        months[month(c.opened)] += 1
    for _rid, _case, _to, _state, sent, answered, closed, _p, _a in w.referrals:
        for at in (sent, answered, closed):
            if at is not None:
                months[month(at)] += 1
    for _fid, _case, _due, _state, ended in w.followups:
        months[month(_due)] += 1 + (ended is not None)
    budget, begin = STRUCTURAL_SHARE * target, w.start
    total = 0
    for key in sorted(months, reverse=True):
        if total + months[key] > budget:
            begin = datetime(key[0], key[1], 1, tzinfo=UTC) + timedelta(days=31)
            begin = datetime(begin.year, begin.month, 1, tzinfo=UTC)
            break
        total += months[key]
    # ---- the events of actions since then: (time, action, actor, object type, object id, case, route, details)
    events: list[tuple[Any, ...]] = []
    add = events.append
    for c in w.cases:
        if c.opened >= begin:
            add((c.opened, "case.create", c.owner, c.org.id, "case_file", c.id, c.code, "cases.new", "{}"))
    verbs = {"declined": "decline", "withdrawn": "withdraw", "completed": "complete", "closed_unresolved": "close"}
    for rid, case, to_org, state, sent, answered, closed, _p, assigned in w.referrals:
        owner, org = case.owner, case.org.id
        if sent is not None and sent >= begin:
            add((sent, "referral.send", owner, org, "referral", rid, case.code, "referrals.act", "{}"))
        if answered is not None and answered >= begin and to_org is not None:
            focal = w.org_by_id[to_org].supervisors[0]
            verb = "decline" if state == "declined" else "accept"
            add((answered, f"referral.{verb}", focal, org, "referral", rid, case.code, "referrals.act", "{}"))
        if closed is not None and closed >= begin and state in verbs:
            by = owner if state == "withdrawn" else (assigned or owner)
            add((closed, f"referral.{verbs[state]}", by, org, "referral", rid, case.code, "referrals.act", "{}"))
    for fid, case, due, state, ended in w.followups:
        created = max(case.opened, due - timedelta(days=7))
        if created >= begin:
            add((created, "followup.create", case.owner, case.org.id, "followup", fid, case.code, "followups.add",
                 "{}"))  # fmt: skip
        if ended is not None and ended >= begin and state in ("done", "cancelled"):
            verb = "complete" if state == "done" else "cancel"
            add((ended, f"followup.{verb}", case.owner, case.org.id, "followup", fid, case.code,
                 f"followups.{verb}", '{"kind":"call"}'))  # fmt: skip
    # ---- the reads around them, up to the scale's number
    structural = len(events)
    reads = (
        ("case.view", 50), ("case.list", 14), ("followup.list", 10), ("auth.login", 8), ("referral.view", 10),
        ("followup.view", 8),
    )  # fmt: skip
    kinds, weights = [k for k, _ in reads], [v for _, v in reads]
    for _ in range(max(target - structural, 0)):
        at, _action, actor, org, otype, oid, code, _route, _d = events[rng.randrange(structural)]
        when = at - timedelta(seconds=rng.expovariate(1 / 1800))
        if when < begin:
            when = at
        kind = rng.choices(kinds, weights)[0]
        if kind == "case.view" or (kind in ("referral.view", "followup.view") and otype == "case_file"):
            kind = "case.view"
            add((when, kind, actor, org, "case_file" if otype == "case_file" else otype, oid, code, "cases.show",
                 "{}"))  # fmt: skip
        elif kind == "referral.view" and otype == "referral":
            add((when, kind, actor, org, "referral", oid, code, "referrals.show", "{}"))
        elif kind == "followup.view" and otype == "followup":
            add((when, kind, actor, org, "followup", oid, code, "followups.case_followups", "{}"))
        elif kind == "case.list":
            add((when, kind, actor, None, None, None, None, "cases.index", '{"count":50}'))
        elif kind == "auth.login":
            add((when, kind, actor, None, "user_account", actor, None, "auth.mfa", "{}"))
        else:
            add((when, "followup.list", actor, None, None, None, None, "followups.my_day",
                 f'{{"count":{rng.randrange(1, 15)},"view":"day"}}'))  # fmt: skip
    events.sort(key=lambda e: e[0])
    del events[target:]
    signer = signing.Signer(BENCH_AUDIT_SIGNING_KEY)
    marks: list[tuple[Any, ...]] = []
    encode, ts, sha256 = chain._encode_row, chain.timestamp, hashlib.sha256

    def rows() -> Iterator[tuple[Any, ...]]:
        head, last_mark, link = chain.GENESIS, None, checkpoints.NO_LINK
        count = len(events)
        for position, (at, action, actor, org, otype, oid, code, route, details) in enumerate(events, 1):
            _name, role, actor_org = users[actor]
            owner = org if org is not None else actor_org
            event_id, request_id = _id(), uuid.uuid4().hex[:16]
            content = (action, actor, actor_org, role, code, details, event_id, oid, otype, ts(at), owner,
                       "success", None, request_id, route)  # fmt: skip
            prev, head = head, sha256(head + encode(position, content)).digest()
            yield (event_id, at, action, "success", actor, role, actor_org, owner, otype, oid, code, route,
                   request_id, None, details, position, prev, head)  # fmt: skip
            # the sealer's run ends when the events pause; it signs the head a minute after the last time
            following = events[position][0] if position < count else None
            if following is None or following - at > SEAL_EVERY:
                signed = at + SEAL_EVERY
                if last_mark is None or signed - last_mark >= CHECKPOINT_EVERY or following is None:
                    signed_message = checkpoints.message(position, head, signed, link)
                    signature = signer.sign(signed_message)
                    marks.append((position, head, signed, signer.key_id, signer.public_key, signature, link))
                    last_mark, link = signed, hashlib.sha256(signed_message + signature).digest()

    w.put(
        "audit_event",
        copy(
            conn,
            "audit_event",
            ["event_id", "occurred_at", "action", "outcome", "actor_id", "actor_role", "actor_organization_id",
             "organization_id", "object_type", "object_id", "case_code", "route", "request_id", "reason", "details",
             "chain_position", "prev_hash", "event_hash"],
            rows(),
            len(events),
        ),
    )  # fmt: skip
    events.clear()
    w.put(
        "audit_checkpoint",
        copy(
            conn,
            "audit_checkpoint",
            ["chain_position", "head_hash", "signed_at", "key_id", "public_key", "signature", "previous_digest"],
            marks,
        ),
    )
    w.audit_begins = begin


# ------------------------------------------------------------------------------ coordination
AGENDA = (
    ("التحديات التي تواجه النساء في الوصول إلى الخدمات", 30, "مركز المساعدة القانونية"),
    ("أرقام الشبكة منذ الاجتماع السابق", 20, "منسقة الشبكة"),
    ("الأنشطة والتدريبات المخطط لها", 25, "منسقة الشبكة"),
    ("حالات تحتاج إلى تنسيق بين القطاعات", 30, "منسقة الشبكة"),
)
ACTIONS = (
    "تحديث قائمة نقاط الاتصال للتحويلات العاجلة", "إعداد تقرير عن أسباب رفض التحويلات",
    "تنسيق زيارة ميدانية لمراكز الخدمة", "مراجعة نموذج التحويل المشترك", "تجهيز مواد حملة التوعية",
    "متابعة توفر أماكن الإيواء الطارئ",
)  # fmt: skip
ACTIVITY_TYPES = {"training": 30, "awareness_campaign": 25, "initiative": 15, "joint_event": 15,
                  "capacity_building": 10, "other": 5}  # fmt: skip


def build_coordination(conn: Any, w: World) -> None:
    """Each network's monthly meeting over the whole period (a few extra ones, a few cancelled),
    with its agenda, invitations of the member organisations' representatives, attendance,
    approved minutes and action points; a yearly activity plan with its activities and what
    was delivered; and case conferences of high-risk cases, twice a month."""
    from referral.cases.models import AGE_GROUPS, SEXES

    rng, now, sealer = w.rng, w.now, w.sealer
    t: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    cases_of: dict[str, list[CaseRow]] = defaultdict(list)
    for c in w.cases:
        if c.risk == "high":
            cases_of[c.org.id].append(c)
    followups_of: dict[str, str] = {}
    for fid, case, *_rest in w.followups:
        followups_of.setdefault(case.id, fid)
    for g in GOVERNORATES:
        net, orgs, coordinator = w.networks[g], w.orgs[g], w.coordinators[g]
        series = _id()
        t["meeting_series"].append(
            (series, net, "الاجتماع الشهري للشبكة", "monthly_weekday", None, 2, 1, "10:00", 120, "قاعة المحافظة", "",
             coordinator, w.start)
        )  # fmt: skip
        for o in orgs:
            t["network_representative"].append((_id(), net, o.id, o.admin, coordinator, w.start))
        month = date(w.start.year, w.start.month, 1)
        sequence = 0
        while True:
            starts = datetime(month.year, month.month, 8 + rng.randrange(0, 7), 8, 0, tzinfo=UTC)
            if starts > now + timedelta(days=40):
                break
            for extra in (False, True):
                if extra and rng.random() > 0.15:
                    continue
                when = starts + timedelta(days=14) if extra else starts
                sequence += 1
                mid = _id()
                past = when < now
                state = "cancelled" if past and rng.random() < 0.03 else "scheduled"
                created = when - timedelta(days=21)
                t["meeting"].append(
                    (mid, net, None if extra else series, "اجتماع طارئ للشبكة" if extra else "الاجتماع الشهري للشبكة",
                     when, 120, "قاعة المحافظة", "", state, coordinator, created + timedelta(days=1), coordinator,
                     created, sequence)
                )  # fmt: skip
                items = [(_id(), mid, 0, "review", "Review of previous action points", 15, "")]
                for n, (title, minutes, presenter) in enumerate(rng.sample(AGENDA, 3), start=1):
                    items.append((_id(), mid, n, "item", title, minutes, presenter))
                t["agenda_item"] += items
                minutes_id = _id()
                held = past and state == "scheduled"
                approved = held and when + timedelta(days=10) < now
                t["meeting_minutes"].append(
                    (minutes_id, mid, 1, "approved" if approved else "circulated" if held else "draft",
                     when + timedelta(days=3) if held else None, coordinator if approved else None,
                     when + timedelta(days=10) if approved else None, created)
                )  # fmt: skip
                for o in orgs:
                    answer = weighted(rng, {"attending": 75, "excused": 15, "delegating": 5, "pending": 5})
                    if not past and when - now > timedelta(days=7):
                        answer = "pending"
                    t["meeting_invitation"].append(
                        (_id(), mid, o.id, o.admin, answer, "مندوبة المؤسسة" if answer == "delegating" else "",
                         None if answer == "pending" else created + timedelta(days=rng.uniform(1, 10)), created)
                    )  # fmt: skip
                    if held:
                        status = weighted(rng, {"attended": 80, "excused": 12, "absent": 8})
                        t["meeting_attendance"].append(
                            (_id(), mid, o.id, status, w.users[o.admin][0] if status == "attended" else "",
                             "مديرة المؤسسة" if status == "attended" else "", coordinator, when + timedelta(hours=2))
                        )  # fmt: skip
                if not held:
                    continue
                for item in items[1:]:
                    t["minute_entry"].append(
                        (_id(), minutes_id, item[0], "ناقش الأعضاء البند وتبادلوا التجارب.", "اعتماد التوصيات.")
                    )
                if rng.random() < 0.3:
                    o = rng.choice(orgs)
                    t["minutes_comment"].append(
                        (_id(), minutes_id, o.admin, o.id, "نقترح إضافة ملاحظة حول الإيواء.", when + timedelta(days=4))
                    )
                for _ in range(rng.randrange(2, 6)):
                    owner = rng.choice(orgs[:12])
                    due = (when + timedelta(days=rng.choice((14, 21, 30, 45)))).date()
                    due_at = datetime(due.year, due.month, due.day, tzinfo=UTC)
                    if due_at < now - timedelta(days=7):
                        status = weighted(rng, {"done": 80, "dropped": 8, "open": 7, "in_progress": 5})
                    else:
                        status = weighted(rng, {"open": 60, "in_progress": 30, "done": 10})
                    ended = (
                        min(due_at + timedelta(days=rng.uniform(-10, 5)), now)
                        if status in ("done", "dropped")
                        else None
                    )
                    t["action_point"].append(
                        (_id(), net, mid, rng.choice(items[1:])[0], rng.choice(ACTIONS), owner.id, owner.admin, due,
                         weighted(rng, {"high": 25, "medium": 55, "low": 20}), status, "", coordinator,
                         when + timedelta(hours=3), ended or when + timedelta(hours=3), ended, 1)
                    )  # fmt: skip
            month = add_months(month, 1)
        # the activity plans, one a year
        for year in range(w.start.year, now.year + 1):
            plan = _id()
            t["activity_plan"].append((plan, net, year, coordinator, datetime(year, 1, 5, tzinfo=UTC)))
            for _ in range(rng.randrange(10, 18)):
                first = date(year, rng.randrange(1, 13), rng.randrange(1, 28))
                last = first + timedelta(days=rng.choice((0, 1, 2, 5, 30)))
                lead = rng.choice(orgs[:14])
                partners = [o.id for o in rng.sample(orgs, 2) if o.id != lead.id]
                begun = datetime(first.year, first.month, first.day, tzinfo=UTC)
                if begun > now:
                    status = "planned"
                elif last < now.date():
                    status = weighted(rng, {"completed": 80, "cancelled": 10, "suspended": 5, "planned": 5})
                else:
                    status = "ongoing"
                aid = _id()
                t["activity"].append(
                    (aid, plan, net, f"نشاط {rng.choice(('تدريبي', 'توعوي', 'مشترك'))} {first:%m/%Y}",
                     weighted(rng, ACTIVITY_TYPES), lead.id, _json(partners), first, last, g, _json([lead.sector]),
                     rng.randrange(15, 80), status, None, "", coordinator, datetime(year, 1, 5, tzinfo=UTC),
                     begun, 1)
                )  # fmt: skip
                if status == "completed":
                    did = _id()
                    counts = {sex: {age: 0 for age in AGE_GROUPS} for sex in SEXES}
                    for _p in range(rng.randrange(10, 60)):
                        counts[weighted(rng, SEX)][rng.choice(AGE_GROUPS[2:4])] += 1
                    total = sum(sum(v.values()) for v in counts.values())
                    t["activity_delivery"].append(
                        (did, aid, lead.id, first, last, _json(counts), total, _json([lead.id, *partners]),
                         sealer.text("activity_delivery", "report", did, lead.id, "نُفذ النشاط كما خُطط له."),
                         lead.admin, datetime(last.year, last.month, last.day, 15, tzinfo=UTC))
                    )  # fmt: skip
        # case conferences: twice a month, the high-risk cases of one organisation
        day = w.start + timedelta(days=10)
        while day < now + timedelta(days=20):
            org = rng.choice(orgs[:8])
            candidates = [c for c in cases_of[org.id] if c.opened < day and (c.closed is None or c.closed > day)]
            if candidates:
                conf = _id()
                past = day < now
                state = "closed" if past and day < now - timedelta(days=2) else "scheduled"
                requester = org.supervisors[0]
                t["case_conference"].append(
                    (conf, net, org.id, state, coordinator, requester, day - timedelta(days=7), coordinator,
                     day - timedelta(days=5), day, sealer.text("case_conference", "place", conf, org.id, "قاعة الشبكة"),
                     sealer.text("case_conference", "minutes", conf, org.id, "نوقشت الحالات واتُّفق على خطة.")
                     if state == "closed" else None, coordinator if state == "closed" else None,
                     day + timedelta(hours=3) if state == "closed" else None, requester, day - timedelta(days=7),
                     day + timedelta(hours=3) if state == "closed" else None, day, 1)
                )  # fmt: skip
                for n, case in enumerate(rng.sample(candidates, min(len(candidates), rng.randrange(2, 5)))):
                    item = _id()
                    t["conference_item"].append(
                        (item, conf, case.id, case.code, org.id, n, rng.choice((10, 12, 15)), "high_risk", None,
                         sealer.text("conference_item", "risk_summary", item, org.id, "خطر مرتفع من المعتدي"),
                         case.owner, day if state == "closed" else None,
                         day + timedelta(minutes=15) if state == "closed" else None, requester,
                         day - timedelta(days=7))
                    )  # fmt: skip
                    followup = followups_of.get(case.id) if state == "closed" else None
                    if followup is not None:
                        del followups_of[case.id]  # a follow-up comes from one conference
                        t["conference_action"].append(
                            (_id(), conf, item, followup, org.id, coordinator, day + timedelta(hours=1))
                        )
            day += timedelta(days=rng.uniform(12, 17))
    columns = {
        "meeting_series": ["id", "network_id", "title", "recurrence", "day_of_month", "week_of_month", "weekday",
                           "local_time", "duration_minutes", "place", "online_link", "created_by", "created_at"],
        "network_representative": ["id", "network_id", "organization_id", "user_id", "named_by", "created_at"],
        "meeting": ["id", "network_id", "series_id", "title", "starts_at", "duration_minutes", "place", "online_link",
                    "state", "minute_taker_id", "invitations_sent_at", "created_by", "created_at", "sequence"],
        "agenda_item": ["id", "meeting_id", "position", "kind", "title", "minutes", "presenter"],
        "meeting_minutes": ["id", "meeting_id", "version", "state", "circulated_at", "approved_by", "approved_at",
                            "created_at"],
        "meeting_invitation": ["id", "meeting_id", "organization_id", "user_id", "response", "delegate_name",
                               "responded_at", "created_at"],
        "meeting_attendance": ["id", "meeting_id", "organization_id", "status", "representative", "role",
                               "recorded_by", "recorded_at"],
        "minute_entry": ["id", "minutes_id", "agenda_item_id", "discussion", "decisions"],
        "minutes_comment": ["id", "minutes_id", "user_id", "organization_id", "body", "created_at"],
        "action_point": ["id", "network_id", "meeting_id", "agenda_item_id", "description", "owner_organization_id",
                         "owner_user_id", "due_date", "priority", "status", "status_note", "created_by", "created_at",
                         "updated_at", "closed_at", "version"],
        "activity_plan": ["id", "network_id", "year", "created_by", "created_at"],
        "activity": ["id", "plan_id", "network_id", "title", "activity_type", "responsible_organization_id",
                     "partner_organization_ids", "planned_start", "planned_end", "governorate", "target_sectors",
                     "target_participants", "status", "meeting_id", "decision_ref", "created_by", "created_at",
                     "updated_at", "version"],
        "activity_delivery": ["id", "activity_id", "organization_id", "delivered_from", "delivered_to", "participants",
                              "participants_total", "organization_ids", "report", "recorded_by", "recorded_at"],
        "case_conference": ["id", "network_id", "organization_id", "state", "chair_id", "requested_by", "requested_at",
                            "convened_by", "convened_at", "starts_at", "place", "minutes", "minutes_by", "minutes_at",
                            "created_by", "created_at", "closed_at", "updated_at", "version"],
        "conference_item": ["id", "conference_id", "case_id", "case_code", "organization_id", "position",
                            "minutes_allotted", "grounds", "judgement_reason", "risk_summary", "risk_summary_by",
                            "started_at", "ended_at", "added_by", "added_at"],
        "conference_action": ["id", "conference_id", "item_id", "followup_id", "organization_id", "created_by",
                              "created_at"],
    }  # fmt: skip
    for name, cols in columns.items():
        w.put(name, copy(conn, name, cols, t[name]))


# ------------------------------------------------------------------------------ statistics
def build_statistics(conn: Any, w: World) -> None:
    """The statistics snapshots the worker keeps, computed by the app's own code after loading
    (`services.refresh_snapshots`, what the beat's task runs). Not at the tiny scale: there nearly
    every cell is small, and disclosure control takes minutes over them."""
    if w.scale.name == "tiny":
        return
    conn.commit()
    from referral import create_app
    from referral.extensions import db
    from referral.statistics import services

    with tempfile.TemporaryDirectory(prefix="shabaka-dataset-") as workdir:
        app = create_app(settings(w.url, Path(workdir)))
        with app.app_context():
            progress = Progress("statistics_snapshot", None)
            stored = services.refresh_snapshots(db.session)
            db.session.commit()
            progress.done = stored
            took = progress.finish()
            db.session.remove()
            db.engine.dispose()
    w.put("statistics_snapshot", (progress.done, took))


# ------------------------------------------------------------------------------ building
def empty(url: str) -> None:
    """Empty every table of the bench database but the migrations' version (and forget the manifest)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(_common._libpq(url), autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
            )
        ]
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS NULL").format(sql.Identifier(_dbname(url))))
        if names:
            conn.execute("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE")


STEPS: tuple[tuple[str, Callable[[Any, World], None]], ...] = (
    ("directory", build_directory),
    ("users", build_users),
    ("cases", build_cases),
    ("referrals", build_referrals),
    ("followups", build_followups),
    ("reminders", build_reminders),
    ("audit", build_audit),
    ("coordination", build_coordination),
    ("statistics", build_statistics),
)


def build(url: str, scale: Scale, rng: random.Random, now: datetime) -> World:
    """Load the data set into the (empty) database with COPY; returns what was built."""
    import psycopg

    start_month = add_months(date(now.year, now.month, 1), -(scale.months - 1))
    start = datetime(start_month.year, start_month.month, 1, tzinfo=UTC)
    w = World(url, scale, rng, now, start)
    with psycopg.connect(_common._libpq(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        for name, step in STEPS:
            began = time.perf_counter()
            step(conn, w)
            conn.commit()
            w.took[f"step:{name}"] = time.perf_counter() - began
    began = time.perf_counter()
    with psycopg.connect(_common._libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    w.took["vacuum_analyze"] = time.perf_counter() - began
    print(f"  {'vacuum analyze':<24} in {w.took['vacuum_analyze']:.1f} s", file=sys.stderr)
    return w


# ------------------------------------------------------------------------------ the manifest
def _dbname(url: str) -> str:
    return urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1)).path.lstrip("/")


def manifest_path(url: str) -> Path:
    return _common.RESULTS / f"dataset-{_dbname(url)}.json"


def counts(conn: Any) -> dict[str, int]:
    """Rows of every table (exact counts)."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version' "
            "ORDER BY tablename"
        )
    ]
    return {n: int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}  # noqa: S608


def sample(conn: Any) -> dict[str, Any]:
    """Ids and usernames for benchmarks, chosen so that a page for them is realistic."""

    def one(sql: str, *params: Any) -> Any:
        row = conn.execute(sql, params).fetchone()
        return row[0] if row else None

    network = one(
        "SELECT n.governorate FROM case_file c JOIN network n ON n.governorate = c.governorate "
        "GROUP BY n.governorate ORDER BY count(*) DESC LIMIT 1"
    )
    network_id = one("SELECT id FROM network WHERE governorate = %s", network)
    org_id = one(
        "SELECT c.organization_id FROM case_file c JOIN network_membership m ON m.organization_id = c.organization_id "
        "WHERE m.network_id = %s GROUP BY c.organization_id ORDER BY count(*) DESC LIMIT 1",
        network_id,
    )
    nn = one("SELECT username FROM user_account WHERE organization_id = %s AND role = 'org_admin'", org_id)
    suffix = nn.removeprefix("bench_org_admin_")
    caseworker, supervisor, org_admin = (f"bench_{r}_{suffix}" for r in ("caseworker", "supervisor", "org_admin"))
    receiver_org_id = one(
        "SELECT r.to_organization_id FROM referral r JOIN network_membership m ON m.organization_id = "
        "r.to_organization_id WHERE m.network_id = %s AND r.to_organization_id <> %s "
        "GROUP BY r.to_organization_id ORDER BY count(*) DESC LIMIT 1",
        network_id,
        org_id,
    )
    focal_point = one(
        "SELECT u.username FROM referral r JOIN user_account u ON u.id = r.assigned_to "
        "WHERE r.to_organization_id = %s AND u.role = 'caseworker' GROUP BY u.username "
        "ORDER BY count(*) DESC, u.username LIMIT 1",
        receiver_org_id,
    )
    referral_id = one(
        "SELECT r.id FROM referral r JOIN user_account u ON u.id = r.assigned_to WHERE r.to_organization_id = %s "
        "AND u.username = %s AND r.state IN ('accepted', 'in_progress') ORDER BY r.sent_at DESC LIMIT 1",
        receiver_org_id,
        focal_point,
    )
    case = conn.execute(
        "SELECT c.id, c.case_code FROM case_file c JOIN user_account u ON u.id = c.owner_id "
        "WHERE c.organization_id = %s AND u.username = %s AND c.status <> 'closed' "
        "AND EXISTS (SELECT 1 FROM referral r WHERE r.case_id = c.id AND r.state <> 'draft') "
        "AND EXISTS (SELECT 1 FROM followup f WHERE f.case_id = c.id) "
        "ORDER BY (SELECT count(*) FROM referral r WHERE r.case_id = c.id) DESC, c.opened_at DESC LIMIT 1",
        (org_id, caseworker),
    ).fetchone()
    meeting_id = one(
        "SELECT m.id FROM meeting m WHERE m.network_id = %s AND m.state = 'scheduled' AND m.starts_at < now() "
        "AND EXISTS (SELECT 1 FROM meeting_attendance a WHERE a.meeting_id = m.id) ORDER BY m.starts_at DESC LIMIT 1",
        network_id,
    )
    return {
        "network": network,
        "org_id": str(org_id),
        "caseworker": caseworker,
        "supervisor": supervisor,
        "org_admin": org_admin,
        "receiver_org_id": str(receiver_org_id),
        "focal_point": focal_point,
        "coordinator": f"bench_coordinator_{network}",
        "national_coordinator": "bench_coordinator_national",
        "auditor": "bench_auditor_1",
        "sysadmin": "bench_sysadmin",
        "case_id": str(case[0]) if case else None,
        "case_code": case[1] if case else None,
        "referral_id": str(referral_id) if referral_id else None,
        "meeting_id": str(meeting_id) if meeting_id else None,
    }


MARK = "shabaka-bench-dataset"


def manifest(url: str, scale: str, built: World | None, build_seconds: float) -> dict[str, Any]:
    """The contract's manifest: scale, counts, build time, size after VACUUM ANALYZE, the sample."""
    import psycopg

    with psycopg.connect(_common._libpq(url)) as conn:
        found: dict[str, Any] = {
            "scale": scale,
            "counts": counts(conn),
            "build_seconds": round(build_seconds, 1),
            "database_bytes": int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]),
            "sample": sample(conn),
        }
    if built is not None:
        found["seconds_by_table"] = {k: round(v, 2) for k, v in built.took.items()}
        found["audit_begins"] = built.audit_begins.isoformat() if built.audit_begins else None
    return found


def write_manifest(url: str, scale: str, built: World | None, build_seconds: float) -> dict[str, Any]:
    import psycopg
    from psycopg import sql

    found = manifest(url, scale, built, build_seconds)
    with psycopg.connect(_common._libpq(url)) as conn:
        # kept with the database itself, so that `--reuse` knows what is there
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(_dbname(url)), sql.Literal(json.dumps({MARK: found}))
            )
        )
        conn.commit()
    path = manifest_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(found, indent=2) + "\n")
    return found


def built_manifest(url: str, scale: str) -> dict[str, Any] | None:
    """The manifest of the data set in the database, if one of this scale is there."""
    import psycopg

    with psycopg.connect(_common._libpq(url)) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    try:
        found = json.loads(row[0])[MARK] if row and row[0] else None
    except (ValueError, KeyError, TypeError):
        return None
    return found if isinstance(found, dict) and found.get("scale") == scale else None


def migrate(url: str) -> None:
    from flask_migrate import upgrade

    from referral import create_app
    from referral.extensions import db

    with tempfile.TemporaryDirectory(prefix="shabaka-dataset-") as workdir:
        app = create_app(settings(url, Path(workdir)))
        with app.app_context():
            upgrade()
            db.session.remove()
            db.engine.dispose()


def ensure(url: str, scale: str = "small", *, seed: int = 15_2026, rebuild: bool = False) -> dict[str, Any]:
    """The manifest of the data set of this scale in `url`, built first unless it is there."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}")
    url = _common._libpq(url)
    _common.ensure_database(url)  # refuses `test`
    migrate(url)
    if not rebuild:
        found = built_manifest(url, scale)
        if found is not None:
            manifest_path(url).parent.mkdir(parents=True, exist_ok=True)
            manifest_path(url).write_text(json.dumps(found, indent=2) + "\n")
            return found
    return _build(url, scale, seed)


def _build(url: str, scale: str, seed: int) -> dict[str, Any]:
    empty(url)
    began = time.perf_counter()
    print(f"building the {scale} data set in {_dbname(url)}", file=sys.stderr)
    world = build(url, SCALES[scale], random.Random(seed), datetime.now(UTC))
    return write_manifest(url, scale, world, time.perf_counter() - began)


def load(url: str, scale: str = "tiny", *, seed: int = 15_2026) -> dict[str, Any]:
    """Build the data set into an already migrated database and return its manifest, without
    recording it anywhere (the test suite's way: its database is emptied after each test)."""
    url = _common._libpq(url)
    empty(url)
    began = time.perf_counter()
    world = build(url, SCALES[scale], random.Random(seed), datetime.now(UTC))
    return manifest(url, scale, world, time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=("full", "small", "tiny"), default="small", metavar="full|small")
    parser.add_argument("--reuse", action="store_true", help="skip building when this scale is already there")
    parser.add_argument("--seed", type=int, default=15_2026)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url or not url.startswith("postgresql"):
        parser.error("BENCH_DATABASE_URL must name a PostgreSQL database (not `test`)")
    found = ensure(url, args.scale, seed=args.seed, rebuild=not args.reuse)
    c = found["counts"]
    print(
        f"{found['scale']} data set in {_dbname(url)}: {c['case_file']:,} cases, {c['referral']:,} referrals, "
        f"{c['followup']:,} follow-ups, {c.get('audit_event', 0):,} audit events, {c['user_account']:,} users; "
        f"built in {found['build_seconds']:.0f} s; {found['database_bytes'] / 2**20:,.0f} MiB"
    )
    print(f"manifest: {manifest_path(url)}")


if __name__ == "__main__":
    main()
