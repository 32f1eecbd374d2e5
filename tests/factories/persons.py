"""Persons on the register with files of given years (the person pages' tests and others)."""

from dataclasses import dataclass

from sqlalchemy import select

from portal.accounts.models import User
from portal.persons.idnumbers import birth_date, sex
from portal.persons.models import Person, PersonFile
from tests.factories.ids import make_id
from tests.factories.places import XINGFU
from tests.helpers import database


@dataclass
class Made:
    id: int
    id_number: str
    phone: str | None
    name: str


def create_person(app, seq, name, region=XINGFU, *, phone=None, files=(), birth="19800101", **kw):
    """Insert a person and their files ([(year, state, assignee username or None, reason)])."""
    id_number = make_id(seq, birth=birth)
    with database(app) as session:
        person = Person(
            id_number=id_number,
            name=name,
            sex=sex(id_number),
            birth_date=birth_date(id_number),
            phone=phone,
            region_code=region,
            **kw,
        )
        session.add(person)
        session.flush()
        for year, state, assignee, reason in files:
            assignee_id = None
            if assignee:
                assignee_id = session.scalar(select(User.id).where(User.username == assignee))
            session.add(
                PersonFile(
                    person_id=person.id,
                    region_code=region,
                    year=year,
                    file_number=f"{year}-{region}-{person.id}",
                    state=state,
                    assignee_id=assignee_id,
                    reason_code=reason,
                )
            )
        return Made(person.id, id_number, phone, name)
