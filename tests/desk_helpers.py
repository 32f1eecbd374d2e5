"""Regions, look-ups and readers for the desk tests (fixtures: tests/desk_fixtures.py)."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from portal.accounts.models import User
from portal.persons.models import PersonChange, PersonFile
from tests.helpers import fetch

YEAR = date.today().year
FUCHENG = "320923001000"  # 阜城街道 (fc_supervisor)
WUTAN_STREET = "320923002000"  # 吴滩街道 (wt_supervisor)
XINGFU = "320923001001"  # 兴阜居委会 (fc_grid1)
XINSHENG = "320923001002"  # 新盛居委会 (fc_grid2)
ZHONGXIN = "320923001003"  # 中心居委会: no grid worker
WUTAN = "320923002001"  # Wutan street (wt_grid1)


@dataclass(frozen=True)
class Made:
    file_id: int
    person_id: int
    id_number: str


def user_id(app, username: str) -> int:
    (found,) = fetch(app, select(User).where(User.username == username))
    return found.id


def file_of(app, file_id: int) -> PersonFile:
    (found,) = fetch(app, select(PersonFile).where(PersonFile.id == file_id))
    return found


def history_of(app, person_id: int, cause: str | None = None) -> list[PersonChange]:
    query = select(PersonChange).where(PersonChange.person_id == person_id)
    if cause:
        query = query.where(PersonChange.cause == cause)
    return fetch(app, query.order_by(PersonChange.id))
