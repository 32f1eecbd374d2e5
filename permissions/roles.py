"""The roles of the portal: their level and their Chinese names (what each may do is policy.csv)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    name: str
    label: str
    levels: tuple[int, ...]  # region levels the role may be granted at
    officer: str | None = None  # three-officer split: "security" or "audit"


ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role("province_admin", "省级管理员", (1,)),
        Role("province_staff", "省级经办", (1,)),
        Role("city_admin", "市级管理员", (2,)),
        Role("city_staff", "市级经办", (2,)),
        Role("county_admin", "县级管理员", (3,)),
        Role("county_staff", "县级经办", (3,)),
        Role("township_supervisor", "乡镇/街道督导", (4,)),
        Role("grid_worker", "网格员", (5,)),
        # An extra grant beside a staff role: see full ID numbers and phones (each reveal logged).
        Role("unmask", "查看完整证件号码", (1, 2, 3, 4)),
        Role("security_admin", "安全管理员", (1, 2), officer="security"),
        Role("auditor", "审计员", (1, 2), officer="audit"),
    )
}

ROLE_ORDER = list(ROLES)


def label(name: str) -> str:
    role = ROLES.get(name)
    return role.label if role else name
