"""Comparisons run in the test's session: persons of the register, insured records, the run,
the files it leaves; `populate` for a region's register in one go."""

from datetime import date

from sqlalchemy import select

from portal.accounts.models import User
from portal.comparisons.operations import compare
from portal.extensions import db
from portal.persons.models import Enrollment, Person, PersonFile
from portal.regions.models import Region
from tests.factories.ids import make_id
from tests.factories.places import FUNING, XINGFU

# The comparison tests' insurance year and the day they run on (in its collection period).
COMPARED_YEAR = 2026
COMPARED_ON = date(2026, 11, 23)


def person(id_number, region=XINGFU, *, name="测试", birth=date(1980, 1, 1), in_register=True):
    p = Person(
        id_number=id_number,
        name=name,
        sex="1",
        birth_date=birth,
        region_code=region,
        in_register=in_register,
    )
    db.session.add(p)
    return p


def enroll(
    id_number,
    region=FUNING,
    *,
    scheme="resident",
    status="normal",
    start=date(2026, 1, 1),
    end=None,
    vouched=None,
    name=None,
):
    """An insured record of the person (resident scheme, normal, since 1 January 2026)."""
    db.session.add(
        Enrollment(
            id_number=id_number,
            scheme=scheme,
            region_code=region,
            start_date=start,
            end_date=end,
            status=status,
            vouched_prefix=vouched,
            name=name,
        )
    )


def run(region=FUNING, year=COMPARED_YEAR, run_id=1, today=COMPARED_ON):
    """The comparison of `region` for `year`, as the job would run it on `today`."""
    db.session.flush()
    return compare(db.session.get(Region, region), year, run_id=run_id, user_id=None, today=today)


def file_of(id_number, year=COMPARED_YEAR):
    return db.session.scalar(
        select(PersonFile)
        .join(PersonFile.person)
        .where(Person.id_number == id_number, PersonFile.year == year)
    )


def files_of(id_number):
    """(year, state, carried_from_year) of every file of the person, oldest first."""
    return db.session.execute(
        select(PersonFile.year, PersonFile.state, PersonFile.carried_from_year)
        .join(Person, Person.id == PersonFile.person_id)
        .where(Person.id_number == id_number)
        .order_by(PersonFile.year)
    ).all()


def a_file(id_number, year, state, assignee=None, **columns):
    """A file of the person in `year` (as a comparison or the desk would have left it)."""
    p = db.session.scalar(select(Person).where(Person.id_number == id_number))
    f = PersonFile(
        person_id=p.id,
        region_code=p.region_code,
        year=year,
        file_number=f"{year}-{p.region_code}-{p.id}",
        state=state,
        assignee_id=assignee,
        **columns,
    )
    db.session.add(f)
    db.session.flush()
    return f


def worker_id(username="fc_grid1"):
    return db.session.scalar(select(User.id).where(User.username == username))


def populate(session, insured: int, uninsured: int, region=XINGFU, start=0) -> list[str]:
    """Persons of the register in `region`, the first `insured` of them with a 2027 record."""
    numbers = []
    for n in range(start, start + insured + uninsured):
        id_number = make_id(n, birth="19800101")
        numbers.append(id_number)
        session.add(
            Person(
                id_number=id_number,
                name="测试",
                sex="1",
                birth_date=date(1980, 1, 1),
                region_code=region,
                in_register=True,
            )
        )
        if n - start < insured:
            session.add(
                Enrollment(
                    id_number=id_number,
                    scheme="resident",
                    region_code=FUNING,
                    start_date=date(2027, 1, 1),
                    status="normal",
                )
            )
    session.flush()
    return numbers
