"""Making task files for the grid worker's tests: a person and one file of this year."""

import itertools
import re
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from portal.accounts.models import User
from portal.persons.codes import GOVERNMENT_PAID_MASK
from portal.persons.idnumbers import birth_date, check_character, sex
from portal.persons.models import Person, PersonFile
from tests.helpers import database

YEAR = date.today().year
XINGFU = "320923001001"  # 兴阜居委会, Fucheng street: fc_grid1's community
XINSHENG = "320923001002"  # 新盛居委会, Fucheng street: fc_grid2's community
WUTAN = "320923002001"  # Wutan street, beside Fucheng
# A full ID number or a full mobile number anywhere in a page (not inside a longer number).
FULL_ID = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
FULL_MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")

_numbers = itertools.count(1)


@dataclass
class Task:
    file_id: int
    person_id: int
    id_number: str
    phone: str | None
    name: str


def make_id(seq: int, birth: str = "19700101") -> str:
    first17 = f"320923{birth}{seq % 1000:03d}"
    return first17 + check_character(first17)


def create_task(
    app,
    name: str,
    *,
    assignee: str | None = "fc_grid1",
    region: str = XINGFU,
    state: str = "assigned",
    phone: str | None = None,
    address: str | None = None,
    key_populations: int = 0,
    birth: str | None = None,
    **file_columns,
) -> Task:
    """A person with a file of this year in `state`, assigned to `assignee` (a username)."""
    n = next(_numbers)
    # Birth dates spread over the years keep the ID numbers unique across a test session.
    id_number = make_id(n, birth or f"{1940 + n // 1000 % 60}0101")
    with database(app) as session:
        person = Person(
            id_number=id_number,
            name=name,
            sex=sex(id_number),
            birth_date=birth_date(id_number),
            phone=phone,
            address=address,
            region_code=region,
            insured_status="uninsured",
            key_populations=key_populations,
        )
        session.add(person)
        session.flush()
        assignee_id = None
        if assignee:
            assignee_id = session.scalar(select(User.id).where(User.username == assignee))
        file = PersonFile(
            person_id=person.id,
            region_code=region,
            year=YEAR,
            file_number=f"T-{uuid.uuid4().hex[:20]}",
            state=state,
            assignee_id=assignee_id,
            government_paid=bool(key_populations & GOVERNMENT_PAID_MASK),
            **file_columns,
        )
        session.add(file)
        session.flush()
        return Task(file.id, person.id, id_number, phone, name)
