"""The fictional demo network: six governorate networks, member organisations of each kind and
sector, and demo users of every role. Built the same way every time (fixed random seed), so the
demo logins printed by `make run` and shown in the README stay the same.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import func, select

from .accounts.models import User
from .directory import services as directory
from .directory.models import Network
from .models_base import DbSession, new_id
from .runtime import Runtime
from .security.passwords import check_policy

SEED = 20131018  # the day the national referral system was adopted, as a fixed seed

NETWORKS = (
    ("tubas", "TBS", "طوباس", "Tubas"),
    ("hebron", "HEB", "الخليل", "Hebron"),
    ("jericho", "JRC", "أريحا", "Jericho"),
    ("tulkarm", "TKM", "طولكرم", "Tulkarm"),
    ("qalqilya", "QLQ", "قلقيلية", "Qalqilya"),
    ("nablus", "NBL", "نابلس", "Nablus"),
)

# (key, Arabic pattern, English pattern, kind, sectors)
MEMBER_TEMPLATES = (
    ("mosd", "مديرية التنمية الاجتماعية – {ar}", "Social Development Directorate – {en}", "governmental", ["social"]),
    ("hospital", "مستشفى {ar} الحكومي", "{en} Government Hospital", "governmental", ["health"]),
    (
        "police",
        "وحدة حماية الأسرة والأحداث – شرطة {ar}",
        "Family and Juvenile Protection Unit – {en} Police",
        "governmental",
        ["police"],
    ),
    ("prosecution", "النيابة العامة – {ar}", "Public Prosecution – {en}", "governmental", ["justice"]),
    ("legal", "مركز {ar} للمساعدة القانونية", "{en} Legal Aid Centre", "civil", ["legal_aid"]),
    (
        "counselling",
        "مركز {ar} للإرشاد النفسي والاجتماعي",
        "{en} Psychosocial Counselling Centre",
        "civil",
        ["psychosocial", "social"],
    ),
    ("women", "جمعية {ar} لتمكين المرأة", "{en} Women's Empowerment Association", "civil", ["economic", "other"]),
)
SHELTERS = {
    "nablus": ("بيت الأمان – نابلس", "Nablus Safe House"),
    "hebron": ("بيت الأمان – الخليل", "Hebron Safe House"),
}
CENTRE = ("مركز المرأة للإرشاد القانوني والاجتماعي", "Women's Centre for Legal Aid and Counselling")

_WORDS = (
    "olive",
    "harbour",
    "lantern",
    "meadow",
    "copper",
    "saffron",
    "willow",
    "granite",
    "orchard",
    "sparrow",
    "cedar",
    "pebble",
    "thistle",
    "juniper",
    "marble",
    "falcon",
    "ember",
    "quartz",
    "valley",
    "almond",
)


# Services by organisation key: (Arabic name, English name, sector, capacity, languages,
# Arabic eligibility). `{ar}`/`{en}` stand for the governorate. Shelters keep their location
# confidential and show a hotline as their front door.
SERVICE_TEMPLATES: dict[str, tuple[tuple[str, str, str, str, tuple[str, ...], str], ...]] = {
    "mosd": (
        (
            "إدارة الحالة والحماية الاجتماعية",
            "Social protection case management",
            "social",
            "available",
            ("ar",),
            "النساء والفتيات المعرّضات للعنف في محافظة {ar}",
        ),
    ),
    "hospital": (
        (
            "الرعاية الطبية للناجيات من العنف",
            "Medical care for survivors of violence",
            "health",
            "available",
            ("ar", "en"),
            "أي امرأة أو فتاة تحتاج رعاية طبية بعد العنف، دون شرط",
        ),
        (
            "التقرير الطبي الشرعي",
            "Forensic medical report",
            "health",
            "limited",
            ("ar",),
            "بتحويل من الشرطة أو النيابة",
        ),
    ),
    "police": (
        (
            "استقبال الشكاوى وحماية الأسرة",
            "Complaints and family protection",
            "police",
            "available",
            ("ar", "he"),
            "النساء والأطفال المعرّضون للعنف الأسري",
        ),
    ),
    "prosecution": (
        (
            "متابعة قضايا العنف الأسري",
            "Family violence prosecution",
            "justice",
            "available",
            ("ar",),
            "القضايا المحوّلة من الشرطة أو الشبكة",
        ),
    ),
    "legal": (
        (
            "الاستشارة القانونية",
            "Legal counselling",
            "legal_aid",
            "available",
            ("ar", "en"),
            "النساء في محافظة {ar}، مجانًا",
        ),
        (
            "التمثيل أمام المحاكم الشرعية والنظامية",
            "Representation in court",
            "legal_aid",
            "waitlist",
            ("ar",),
            "النساء غير القادرات على توكيل محامٍ",
        ),
    ),
    "counselling": (
        (
            "الدعم النفسي الاجتماعي الفردي",
            "Individual psychosocial support",
            "psychosocial",
            "limited",
            ("ar", "en"),
            "النساء والفتيات من عمر 12 سنة فأكثر",
        ),
        (
            "مجموعات الدعم للنساء",
            "Women's support groups",
            "psychosocial",
            "available",
            ("ar",),
            "النساء من عمر 18 سنة فأكثر",
        ),
    ),
    "women": (
        (
            "برنامج التمكين الاقتصادي",
            "Economic empowerment programme",
            "economic",
            "full",
            ("ar",),
            "الناجيات الباحثات عن عمل أو مشروع صغير",
        ),
    ),
    "shelter": (
        (
            "الإيواء الطارئ والحماية",
            "Emergency shelter and protection",
            "shelter",
            "limited",
            ("ar", "en"),
            "النساء المعرّضات لخطر جسيم وأطفالهن، بتحويل من الشبكة",
        ),
    ),
    "centre": (
        (
            "الخط الساخن للإرشاد القانوني والاجتماعي",
            "Legal and social counselling hotline",
            "legal_aid",
            "available",
            ("ar", "en"),
            "أي امرأة في الضفة الغربية",
        ),
    ),
}
SHELTER_HOTLINES = {"nablus": "1800-500-101", "hebron": "1800-500-102"}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    organization: str
    password: str


def _password(rng: random.Random, username: str) -> str:
    while True:
        candidate = "-".join(rng.sample(_WORDS, 3)) + f"-{rng.randrange(10, 99)}"
        if check_policy(candidate, username) is None:
            return candidate


def _plan() -> list[tuple[str, str, str, str | None]]:
    """(username, role, organisation key, network governorate) for every demo user."""
    plan: list[tuple[str, str, str, str | None]] = [
        ("sysadmin", "sysadmin", "centre", None),
        ("auditor", "auditor", "centre", None),
    ]
    for governorate, prefix, _, _ in NETWORKS:
        p = prefix.lower()
        plan += [
            (f"coord.{governorate}", "coordinator", "centre", governorate),
            (f"{p}.caseworker", "caseworker", f"{governorate}.legal", None),
            (f"{p}.supervisor", "supervisor", f"{governorate}.legal", None),
            (f"{p}.admin", "org_admin", f"{governorate}.legal", None),
            (f"{p}.mosd", "caseworker", f"{governorate}.mosd", None),
        ]
    # added later: appended so the passwords above stay what the README shows
    plan += [(f"{prefix.lower()}.mosd.supervisor", "supervisor", f"{g}.mosd", None) for g, prefix, _, _ in NETWORKS]
    # the statistics releases: a second member administrator per network, and the national coordinator
    plan += [(f"{prefix.lower()}.mosd.admin", "org_admin", f"{g}.mosd", None) for g, prefix, _, _ in NETWORKS]
    plan += [("coord.national", "coordinator", "centre", None)]
    return plan


def logins() -> list[DemoLogin]:
    """The demo logins, computed without a database: the same on every machine."""
    rng = random.Random(SEED)
    names = {"centre": CENTRE[1]}
    for governorate, _, ar, en in NETWORKS:
        for key, _, en_pattern, _, _ in MEMBER_TEMPLATES:
            names[f"{governorate}.{key}"] = en_pattern.format(ar=ar, en=en)
    return [DemoLogin(u, role, names[org], _password(rng, u)) for u, role, org, _ in _plan()]


def is_seeded(session: DbSession) -> bool:
    return bool(session.scalar(select(func.count()).select_from(Network)))


def seed(session: DbSession, rt: Runtime) -> list[DemoLogin]:
    """Build the demo network in an empty database. The caller commits."""
    if is_seeded(session):
        raise RuntimeError("the database already holds networks; demo data is seeded only into an empty one")
    networks: dict[str, Network] = {}
    orgs: dict[str, str] = {}
    all_governorates = [g for g, _, _, _ in NETWORKS]
    for governorate, prefix, ar, en in NETWORKS:
        networks[governorate] = directory.create_network(
            session,
            None,
            governorate=governorate,
            case_prefix=prefix,
            name_ar=f"شبكة حماية المرأة – {ar}",
            name_en=f"{en} Women's Protection Network",
        )
    centre = directory.create_organization(
        session,
        None,
        directory.OrganizationInput(CENTRE[0], CENTRE[1], "civil", ["legal_aid", "social"], all_governorates),
    )
    orgs["centre"] = centre.id
    for governorate, _, ar, en in NETWORKS:
        net = networks[governorate]
        directory.add_member(session, None, net, centre)
        templates = list(MEMBER_TEMPLATES)
        if governorate in SHELTERS:
            s_ar, s_en = SHELTERS[governorate]
            templates.append(("shelter", s_ar, s_en, "governmental", ["shelter"]))
        for key, ar_pattern, en_pattern, kind, sectors in templates:
            org = directory.create_organization(
                session,
                None,
                directory.OrganizationInput(
                    ar_pattern.format(ar=ar, en=en), en_pattern.format(ar=ar, en=en), kind, sectors, [governorate]
                ),
            )
            orgs[f"{governorate}.{key}"] = org.id
            directory.add_member(session, None, net, org)
    _seed_services(session, orgs, all_governorates)
    demo = logins()
    by_name = {d.username: d for d in demo}
    for username, role, org_key, network_of in _plan():
        session.add(
            User(
                id=new_id(),
                organization_id=orgs[org_key],
                network_id=networks[network_of].id if network_of else None,
                role=role,
                username=username,
                locale="ar",
                password_hash=rt.passwords.hash(by_name[username].password),
                # Demo accounts keep their printed password so the demo stays usable; they
                # still enrol a second factor at first sign-in.
                must_change_password=False,
            )
        )
    session.flush()
    from .demo_cases import seed_referrals

    seed_referrals(session, {"nablus": "nbl", "hebron": "heb"})
    from .demo_cases import seed_followups

    seed_followups(session, ["nbl", "heb"])
    from .demo_stats import seed_history

    owners = {u.organization_id: u.id for u in session.scalars(select(User).where(User.role == "caseworker"))}
    members: dict[str, dict[str, str]] = {}
    for org_key, org_id in orgs.items():
        governorate, _, key = org_key.rpartition(".")
        if governorate:
            members.setdefault(governorate, {})[key] = org_id
    for keys in members.values():
        keys["owner"] = owners.get(keys.get("legal", ""), next(iter(owners.values())))
    seed_history(session, {g: p for g, p, _, _ in NETWORKS}, members)
    from .demo_coordination import seed_coordination

    demo_networks = {g: p for g, p, _, _ in NETWORKS if g in ("nablus", "hebron")}
    seed_coordination(session, rt, demo_networks, {g: {**members[g], "centre": orgs["centre"]} for g in demo_networks})
    return demo


def _seed_services(session: DbSession, orgs: dict[str, str], all_governorates: list[str]) -> None:
    """A service or two for every demo organisation, the same every time."""
    names = {g: (ar, en) for g, _, ar, en in NETWORKS}
    for org_key, org_id in orgs.items():
        governorate, _, key = org_key.rpartition(".")
        ar, en = names.get(governorate, ("", ""))
        org = directory.organization(session, org_id)
        for index, (name_ar, name_en, sector, capacity, languages, eligibility) in enumerate(SERVICE_TEMPLATES[key]):
            shelter = key == "shelter"
            directory.create_service(
                session,
                None,
                org,
                directory.ServiceInput(
                    name_ar=f"{name_ar} – {ar}" if ar else name_ar,
                    name_en=f"{name_en} – {en}" if en else name_en,
                    sector=sector,
                    governorates=[governorate] if governorate else all_governorates,
                    languages=list(languages),
                    capacity_status=capacity,
                    accepting_referrals=capacity != "full",
                    eligibility=eligibility.format(ar=ar),
                    opening_hours="24/7" if shelter else "الأحد–الخميس 8:00–15:00",
                    focal_points=[
                        {
                            "name": f"Focal point {index + 1}",
                            "role": "Referral focal point",
                            "phone": f"+970-9-{2300000 + len(org_key) * 101 + index:07d}",
                            "email": f"focal{index + 1}.{org_key.replace('.', '-')}@example.org",
                        }
                    ],
                    confidential_location=shelter,
                    front_door=f"Hotline {SHELTER_HOTLINES[governorate]}" if shelter else "",
                    address="" if shelter else f"Main street, {en or 'Ramallah'}",
                ),
            )
