"""Task files for the grid worker's tests: a person and one file of this year; the task list."""

import itertools
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from portal.accounts.models import User
from portal.persons.codes import GOVERNMENT_PAID_MASK
from portal.persons.idnumbers import birth_date, sex
from portal.persons.models import Person, PersonFile
from tests.factories.ids import make_id
from tests.factories.places import XINGFU, YEAR
from tests.helpers import database

_numbers = itertools.count(1)


@dataclass
class Task:
    file_id: int
    person_id: int
    id_number: str
    phone: str | None
    name: str


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
    id_number = make_id(n % 1000, birth=birth or f"{1940 + n // 1000 % 60}0101")
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


def names_in_list(html: str) -> list[str]:
    """The persons of the task list, in the order shown."""
    listing = html.split('<ol class="tasks">', 1)[1].split("</ol>", 1)[0]
    return re.findall(r"<b>([^<]+)</b>", listing)
