"""Known data for the dashboard tests, and reading the dashboard's child table back from HTML."""

import itertools
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser

from portal.persons.codes import GOVERNMENT_PAID_MASK, KEY_POPULATION_BY_CODE
from portal.persons.idnumbers import birth_date, sex
from portal.persons.models import Person, PersonFile
from tests.factories import make_id
from tests.helpers import database

FUCHENG = "320923001000"  # 阜城街道
XINGFU = "320923001001"  # 兴阜居委会
XINSHENG = "320923001002"  # 新盛居委会
WUTAN = "320923002000"  # 吴滩街道
WUTAN_COMMUNITY = "320923002001"
FUNING = "320923000000"
TINGHU = "320902000000"  # another county of Yancheng
POOR = KEY_POPULATION_BY_CODE["extreme_poverty"].bit
assert POOR & GOVERNMENT_PAID_MASK

_numbers = itertools.count(1)


def _id_number() -> str:
    n = next(_numbers)
    return make_id(n % 1000, birth=f"{1950 + n // 1000 % 50}0{1 + n // 100 % 9}0{1 + n // 10 % 9}")


def add_person(
    session,
    region: str,
    *,
    insured: str | None = None,  # a scheme: employee / resident
    elsewhere: bool = False,
    year: int | None = None,
    state: str | None = None,  # the state of a file of `year`
    reason: str | None = None,
    key_populations: int = 0,
    excluded: str | None = None,
    e_credential: bool = False,
    in_register: bool = True,
) -> Person:
    """A person on the register of `region`, insured in a scheme or uninsured with a file."""
    id_number = _id_number()
    person = Person(
        id_number=id_number,
        name=f"统计{id_number[-4:]}",
        sex=sex(id_number),
        birth_date=birth_date(id_number),
        region_code=region,
        in_register=in_register,
        in_resident_list=not in_register,
        insured_status="insured" if insured else "uninsured",
        insured_scheme=insured,
        insured_region_code=("320102000000" if elsewhere else region) if insured else None,
        key_populations=key_populations,
        excluded_reason=excluded,
        e_credential=e_credential,
    )
    session.add(person)
    session.flush()
    if state:
        session.add(
            PersonFile(
                person_id=person.id,
                region_code=region,
                year=year,
                file_number=f"D-{uuid.uuid4().hex[:20]}",
                state=state,
                reason_code=reason,
                government_paid=bool(key_populations & GOVERNMENT_PAID_MASK),
            )
        )
        session.flush()
    return person


def fill(app, year: int) -> None:
    """Fucheng street: 兴阜 8 must-insure, 6 insured (75 %); 新盛 4, 1 insured (25 %) with a
    government-paid person uninsured; Wutan street: 2 must-insure, both insured (100 %)."""
    with database(app) as s:
        # 兴阜居委会
        add_person(s, XINGFU, insured="employee", e_credential=True)
        add_person(s, XINGFU, insured="resident", e_credential=True)
        add_person(s, XINGFU, insured="resident", elsewhere=True)
        add_person(s, XINGFU, insured="resident")
        add_person(s, XINGFU, insured="resident", key_populations=POOR)
        add_person(s, XINGFU, insured="resident", in_register=False)  # resident list only
        add_person(s, XINGFU, year=year, state="unassigned")
        add_person(s, XINGFU, year=year, state="following", reason="away_working")
        add_person(s, XINGFU, year=year, state="exempt", reason="deceased", excluded="deceased")
        # 新盛居委会
        add_person(s, XINSHENG, insured="employee")
        add_person(s, XINSHENG, year=year, state="unassigned", key_populations=POOR)
        add_person(s, XINSHENG, year=year, state="assigned")
        add_person(s, XINSHENG, year=year, state="unassigned")
        # 吴滩街道
        add_person(s, WUTAN_COMMUNITY, insured="resident")
        add_person(s, WUTAN_COMMUNITY, insured="employee")


# --- reading the page back --------------------------------------------------------------------


@dataclass
class Cell:
    text: str = ""
    href: str | None = None


@dataclass
class TableReader(HTMLParser):
    """The child table: {region code or 'total': {data-key: Cell}} in page order."""

    rows: dict = field(default_factory=dict)
    order: list = field(default_factory=list)
    _row: str | None = None
    _cell: Cell | None = None
    _key: str | None = None

    def __post_init__(self):
        super().__init__()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-region" in attrs:
            self._row = attrs["data-region"]
            self.rows[self._row] = {}
            self.order.append(self._row)
        elif tag == "td" and self._row and "data-key" in attrs:
            self._key = attrs["data-key"]
            self._cell = Cell()
        elif tag == "a" and self._cell is not None and self._cell.href is None:
            self._cell.href = attrs.get("href")

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._cell.text = self._cell.text.strip()
            self.rows[self._row][self._key] = self._cell
            self._cell = self._key = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.text += data


def child_table(html: str) -> TableReader:
    reader = TableReader()
    reader.feed(html)
    return reader
