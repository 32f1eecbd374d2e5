"""The roles of the portal: their level and their Chinese names (what each may do is policy.csv)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    name: str
    label: str
    levels: tuple[int, ...]  # region levels the role may be granted at
    officer: str | None = None  # three-officer split: "security" or "audit"
    # Administers users or the system: may hold no personal data (PERSONAL_DATA_ACTIONS) by
    # itself nor through the roles it inherits; only a grant of its own gives that.
    administrative: bool = False
    # Granted and revoked by the desk together with the files it covers (代管), never on the
    # user pages: whoever may manage the holder's other roles may manage the account.
    desk_granted: bool = False


ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role("province_admin", "省级管理员", (1,), administrative=True),
        Role("province_staff", "省级经办", (1,)),
        Role("city_admin", "市级管理员", (2,), administrative=True),
        Role("city_staff", "市级经办", (2,)),
        Role("county_admin", "县级管理员", (3,), administrative=True),
        Role("county_staff", "县级经办", (3,)),
        Role("township_supervisor", "乡镇/街道督导", (4,)),
        Role("grid_worker", "网格员", (5,)),
        # A grid worker covering files of another community of their township (代管): the
        # files assigned to them there, nothing else (portal/desk/assignment.py cover).
        Role("covering_worker", "代管网格员", (5,), desk_granted=True),
        # An extra grant beside a staff role: see full ID numbers and phones (each reveal logged).
        Role("unmask", "查看完整证件号码", (1, 2, 3, 4)),
        Role("security_admin", "安全管理员", (1, 2), officer="security", administrative=True),
        Role("auditor", "审计员", (1, 2), officer="audit", administrative=True),
    )
}

ROLE_ORDER = list(ROLES)

# The actions of policy.csv that reach a person's full data: the full ID number and phone
# (person.unmask; an unmasked export needs it too), and working a file in the field, which shows
# and calls the phone and writes the visit record (visit.record, visit.propose_close). Masked
# lists, person edits and figures are the staff's everyday work and are not in this list.
PERSONAL_DATA_ACTIONS = frozenset({"person.unmask", "visit.record", "visit.propose_close"})
# Every other action of policy.csv. A new action must be put in one list or the other
# (tests/test_policy.py fails until it is).
OTHER_ACTIONS = frozenset(
    {
        "region.view",
        "person.view",
        "person.edit",
        "stats.view",
        "stats.view_own",
        "file.assign",
        "file.receive",
        "file.review",
        "desk.view",
        "report.export",
        "report.submit",
        "report.review",
        "notice.issue",
        "target.set",
        "data.import",
        "comparison.run",
        "duplicate.handle",
        "user.view",
        "user.create",
        "user.manage",
        "role.grant",
        "audit.view",
    }
)


def label(name: str) -> str:
    role = ROLES.get(name)
    return role.label if role else name
