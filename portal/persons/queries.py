"""Scoped reads of the person file: the filtered list, one person, and the parts of its page.

Every read starts from `scoped_select`, which joins each person's current file (the latest one,
the file of the current insurance year once it exists) and applies
`scope_for(actor, action).clause(Person.region_code, PersonFile.assignee_id)`: a grid worker's
scope is assigned-only, so they see the persons whose current file is assigned to them. The list,
its count, the export and the single-person load share that one query; a person outside it is
simply not found.
"""

from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field
from datetime import date

from flask import abort
from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import aliased, selectinload

from permissions import Scope, scope_for
from portal.accounts.models import User
from portal.comparisons.models import ComparisonRun
from portal.extensions import db
from portal.imports.models import ImportBatch
from portal.masking import mask_id_number, mask_phone
from portal.persons import codes
from portal.persons.models import Enrollment, Person, PersonChange, PersonFile
from portal.persons.names import normalize_name
from portal.regions import codes as region_codes
from portal.regions.models import Region
from portal.regions.provinces import province_name
from portal.visits.codes import OUTCOME_LABELS, REVIEW_STATE_LABELS

# A dropdown of regions longer than this is useless on a phone: a coarser level is offered.
REGION_CHOICES_LIMIT = 500
GOVERNMENT_PAID = "government_paid"  # key-population filter: any of the government-paid groups
NO_FILE = "none"  # file-state filter: persons without a file
# The e-credential filter: activated or not (the dashboard's activation rate links to "no").
E_CREDENTIAL_CHOICES = (("yes", "已激活"), ("no", "未激活"))
E_CREDENTIAL_VALUES = {"yes": True, "no": False}
# The population filter: the persons the figures count as must be insured (应参保: on the
# register or the resident list, not excluded), those of them not insured (compared uninsured or
# not yet compared: the figures' 未参保), and those taken out of it (不计入应参保). With it the
# dashboard's counts link to lists exactly as long, exclusions or not.
POPULATION_CHOICES = (
    ("must", "应参保人员"),
    ("must_uninsured", "应参保未参保（含未比对）"),
    ("excluded", "不计入应参保人员"),
)
HISTORY_LIMIT = 200
# What a person's first comparison changes when it opens a file (comparisons/operations.py
# writes no history row for it; the file keeps the run): field → (old, new).
FIRST_COMPARISON = {"insured_status": ("unknown", "uninsured"), "file_state": (None, "unassigned")}

SEX_LABELS = {"1": "男", "2": "女"}
CAUSE_LABELS = {
    "import": "导入",
    "comparison": "比对",
    "edit": "修改",
    "visit": "走访",
    "assign": "分配",
    "review": "审核",
    "duplicate": "重复参保处理",
}
FIELD_LABELS = {
    "id_number": "公民身份号码",
    "name": "姓名",
    "sex": "性别",
    "birth_date": "出生日期",
    "phone": "联系电话",
    "region_code": "管理社区",
    "file_region": "档案所属社区",
    "hukou_region_code": "户籍地",
    "address": "现住址",
    "in_register": "户籍名册",
    "in_resident_list": "常住人口名册",
    "key_populations": "重点人群",
    "e_credential": "医保电子凭证",
    "insured_status": "参保状态",
    "insured_scheme": "参保类型",
    "insured_region_code": "参保地",
    "file_state": "档案状态",
    "reason_code": "未参保原因",
    "assignee_id": "负责网格员",
    "due_date": "截止日期",
    "follow_up_on": "下次跟进",
    "visit_outcome": "走访结果",
    "review": "审核结果",
    "review_comment": "审核意见",
    "cover_reason": "代管原因",
    "evidence_waiver": "证明材料豁免原因",
    "year": "参保年度",
    "excluded_reason": "不计入应参保人员",
    "duplicate_enrollments": "参保记录",
}
SECRET_FIELDS = {"id_number": mask_id_number, "phone": mask_phone}
REGION_FIELDS = {"region_code", "hukou_region_code", "insured_region_code", "file_region"}
STATE_LABELS = {**codes.FILE_STATE_LABELS, "reopened": "重新打开"}


@dataclass(frozen=True)
class PersonFilters:
    """The list's filters, already validated (see forms.PersonSearchForm)."""

    name: str = ""
    id_number: str = ""  # a normalised 18-character number, or its last 4–6 characters
    phone_tail: str = ""  # the last 4 digits
    region: str = ""  # a region code offered by region_choices
    insured_status: str = ""
    scheme: str = ""
    key_population: str = ""  # a KEY_POPULATIONS code or GOVERNMENT_PAID
    file_state: str = ""  # a FILE_STATES code or NO_FILE
    reason: str = ""
    e_credential: str = ""  # a E_CREDENTIAL_CHOICES code: activated or not
    population: str = ""  # a POPULATION_CHOICES code

    def active(self) -> dict:
        """The filters in use (for the audit record of an export)."""
        return {k: v for k, v in asdict(self).items() if v}


# --- the scoped query -------------------------------------------------------------------------


def current_file_condition():
    """Join condition: a person's current file is their file of the latest year."""
    newer = aliased(PersonFile)
    latest_year = (
        select(func.max(newer.year))
        .where(newer.person_id == Person.id)
        .correlate(Person)
        .scalar_subquery()
    )
    return and_(PersonFile.person_id == Person.id, PersonFile.year == latest_year)


def scoped_select(actor, action: str = "person.view", *columns):
    """SELECT persons (or the given columns) in the actor's scope for `action`, current file
    joined (outer: a person without a file is seen by region-wide scopes only)."""
    scope = scope_for(actor, action)
    query = select(*columns).select_from(Person) if columns else select(Person)
    return query.outerjoin(PersonFile, current_file_condition()).where(
        scope.clause(Person.region_code, PersonFile.assignee_id)
    )


def apply_filters(query, filters: PersonFilters):
    """Add the list's filters to a query built by scoped_select."""
    if filters.name:
        query = query.where(Person.name.contains(filters.name, autoescape=True))
    if filters.id_number:
        if len(filters.id_number) == 18:
            query = query.where(Person.id_number == filters.id_number)
        else:
            query = query.where(Person.id_number.endswith(filters.id_number, autoescape=True))
    if filters.phone_tail:
        query = query.where(Person.phone.endswith(filters.phone_tail, autoescape=True))
    if filters.region:
        region = db.session.get(Region, filters.region)
        if region is None:
            return query.where(false())
        query = query.where(Person.region_code.between(*region_codes.subtree_bounds(region.prefix)))
    if filters.insured_status:
        query = query.where(Person.insured_status == filters.insured_status)
    if filters.scheme:
        query = query.where(Person.insured_scheme == filters.scheme)
    if filters.key_population == GOVERNMENT_PAID:
        query = query.where(Person.key_populations.op("&")(codes.GOVERNMENT_PAID_MASK) != 0)
    elif filters.key_population in codes.KEY_POPULATION_BY_CODE:
        bit = codes.KEY_POPULATION_BY_CODE[filters.key_population].bit
        query = query.where(Person.key_populations.op("&")(bit) != 0)
    if filters.file_state == NO_FILE:
        query = query.where(PersonFile.id.is_(None))
    elif filters.file_state:
        query = query.where(PersonFile.state == filters.file_state)
    if filters.reason:
        query = query.where(PersonFile.reason_code == filters.reason)
    if filters.e_credential in E_CREDENTIAL_VALUES:
        query = query.where(Person.e_credential.is_(E_CREDENTIAL_VALUES[filters.e_credential]))
    if filters.population:
        query = _population(query, filters.population)
    return query


def _population(query, code: str):
    """The population filter (POPULATION_CHOICES), as portal/stats/counts.py counts it."""
    in_population = or_(Person.in_register, Person.in_resident_list)
    if code == "excluded":
        return query.where(in_population, Person.excluded_reason.is_not(None))
    query = query.where(in_population, Person.excluded_reason.is_(None))
    if code == "must_uninsured":
        query = query.where(Person.insured_status != "insured")
    elif code != "must":
        query = query.where(false())
    return query


def persons_query(actor, filters: PersonFilters):
    """The list: persons in the actor's person.view scope matching the filters."""
    query = apply_filters(scoped_select(actor), filters)
    return query.options(selectinload(Person.files)).order_by(Person.region_code, Person.id)


EXPORT_COLUMNS = (
    Person.name,
    Person.id_number,
    Person.sex,
    Person.birth_date,
    Person.phone,
    Person.region_code,
    Region.name.label("region_name"),
    Person.address,
    Person.insured_status,
    Person.insured_scheme,
    Person.key_populations,
    Person.e_credential,
    PersonFile.file_number,
    PersonFile.state.label("file_state"),
    PersonFile.reason_code,
    PersonFile.assignee_id,
)


def export_query(actor, filters: PersonFilters):
    """The same list as plain rows (no ORM objects), for streaming into a workbook."""
    query = scoped_select(actor, "person.view", *EXPORT_COLUMNS).outerjoin(
        Region, Region.code == Person.region_code
    )
    return apply_filters(query, filters).order_by(Person.region_code, Person.id)


def get_person_or_404(person_id: int, actor, action: str = "person.view") -> Person:
    """One person in the actor's scope for `action`; outside it, 404 (not 403: not found)."""
    person = db.session.scalar(scoped_select(actor, action).where(Person.id == person_id))
    if person is None:
        abort(404)
    return person


def current_file(person: Person) -> PersonFile | None:
    """The latest file (Person.files is ordered newest year first)."""
    return person.files[0] if person.files else None


# --- the list's rows and dropdowns ------------------------------------------------------------


def age(birth: date | None, today: date | None = None) -> int | None:
    if birth is None:
        return None
    today = today or date.today()
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def key_populations(mask: int) -> list[codes.KeyPopulation]:
    return [k for k in codes.KEY_POPULATIONS if (mask or 0) & k.bit]


@dataclass
class PersonRow:
    """One line of the list (the ID number and phone are masked by the template)."""

    person: Person
    file: PersonFile | None
    region_name: str
    age: int | None
    key_populations: list[codes.KeyPopulation]


def region_names(wanted: set[str | None]) -> dict[str, str]:
    """Names of the given region codes (one query)."""
    wanted = {c for c in wanted if c}
    if not wanted:
        return {}
    rows = db.session.execute(select(Region.code, Region.name).where(Region.code.in_(wanted)))
    return dict(rows.all())


def list_rows(persons: list[Person]) -> list[PersonRow]:
    names = region_names({p.region_code for p in persons})
    today = date.today()
    return [
        PersonRow(
            person=p,
            file=current_file(p),
            region_name=names.get(p.region_code, p.region_code),
            age=age(p.birth_date, today),
            key_populations=key_populations(p.key_populations),
        )
        for p in persons
    ]


def region_choices(
    scope: Scope, within: str | None = None, levels=(5, 4, 3)
) -> tuple[int, list[tuple[str, str]]]:
    """Regions of the scope to pick from: communities when there are not too many, else the
    first coarser level that fits. Returns (level, [(code, label), …])."""
    township = aliased(Region)
    for level in levels:
        condition = and_(Region.level == level, scope.region_clause(Region.code))
        if within:
            condition = and_(condition, Region.code.between(*region_codes.subtree_bounds(within)))
        total = db.session.scalar(select(func.count()).select_from(Region).where(condition))
        if total > REGION_CHOICES_LIMIT and level != levels[-1]:
            continue
        rows = db.session.execute(
            select(Region.code, Region.name, township.name)
            .outerjoin(township, township.code == Region.parent_code)
            .where(condition)
            .order_by(Region.code)
            .limit(REGION_CHOICES_LIMIT)
        ).all()
        parents = {parent for _, _, parent in rows}
        if level == 5 and len(parents) > 1:
            return level, [(code, f"{parent} · {name}") for code, name, parent in rows]
        return level, [(code, name) for code, name, _ in rows]
    return levels[-1], []


def region_choice(scope: Scope, code: str) -> tuple[str, str] | None:
    """(code, name) of region `code` when the scope reaches it: a township, county or city
    filter asked for by a link (the dashboard's counts of any level) though the dropdown offers
    one level only. None when it does not exist or lies outside the scope."""
    row = db.session.execute(
        select(Region.code, Region.name).where(
            Region.code == code, scope.region_clause(Region.code)
        )
    ).first()
    return (row.code, row.name) if row else None


# --- the detail page --------------------------------------------------------------------------


@dataclass
class FieldChange:
    label: str
    old: str
    new: str


@dataclass
class HistoryEntry:
    at: object
    who: str
    cause: str
    created: bool
    fields: list[FieldChange]
    # A visit's evidence images (visits/evidence.py): shown as thumbnails linking to the image.
    evidence: list = dataclass_field(default_factory=list)


def visible_enrollments(actor, action: str = "person.view"):
    """SELECT the enrollment records (参保记录) the actor may see: those of persons in their scope
    for `action` (as scoped_select decides it: a grid worker, the persons assigned to them), and
    those insured at a place in their scope (the insured place's office sees the records it
    holds, whoever and wherever the person is). Nobody else sees a record."""
    scope = scope_for(actor, action)
    return (
        select(Enrollment)
        .outerjoin(Person, Person.id_number == Enrollment.id_number)
        .outerjoin(PersonFile, current_file_condition())
        .where(
            or_(
                scope.clause(Person.region_code, PersonFile.assignee_id),
                scope.clause(Enrollment.region_code),
            )
        )
    )


def enrollments_of(person: Person, actor=None) -> list[Enrollment]:
    """The person's own enrollment records (参保记录), wherever they are insured; with `actor`,
    those the actor may see (all of them, when the actor may see the person)."""
    query = select(Enrollment) if actor is None else visible_enrollments(actor)
    query = query.where(Enrollment.id_number == person.id_number).order_by(
        Enrollment.start_date.desc(), Enrollment.id.desc()
    )
    return list(db.session.scalars(query))


@dataclass
class EnrollmentRow:
    """One record as the person page shows it."""

    record: Enrollment
    place: str  # the insured place's name (or its province's, when not loaded here)
    elsewhere: bool  # 异地: insured outside the person's county
    counts: bool  # whether the record may insure this person (who vouched for it)
    voucher: str | None  # the region that vouched for a record insured outside its scope
    other_name: str | None  # the extract's name, when it differs from the register's


def place_label(code: str | None, regions: dict[str, str]) -> str:
    """An insured place as words: its name where the region table has it; else its province
    and what the code says of its level (省本级 / 市本级), or that the region is not loaded."""
    if not code:
        return "—"
    if code in regions:
        return regions[code]
    province = province_name(code) or "未知省份"
    if code[2:4] == "99":
        return f"{province}省本级"
    if code[4:6] == "99":
        city = regions.get(region_codes.pad(code[:4]))
        return f"{city}本级" if city else f"{province}（市本级）"
    return f"{province}（本平台未载入该区划）"


def _place_codes(code: str | None) -> set[str]:
    """The codes place_label may look up for one insured place."""
    if not code:
        return set()
    return {code, region_codes.pad(code[:4])}


def elsewhere(person: Person, code: str | None) -> bool:
    """异地: a place outside the person's county."""
    return bool(code) and bool(person.region_code) and code[:6] != person.region_code[:6]


def enrollment_rows(
    person: Person, enrollments: list[Enrollment], regions: dict[str, str]
) -> list[EnrollmentRow]:
    own_name = normalize_name(person.name)
    return [
        EnrollmentRow(
            record=e,
            place=place_label(e.region_code, regions),
            elsewhere=elsewhere(person, e.region_code),
            counts=e.vouched_prefix is None or person.region_code.startswith(e.vouched_prefix),
            voucher=(
                place_label(region_codes.pad(e.vouched_prefix), regions)
                if e.vouched_prefix
                else None
            ),
            other_name=e.name if e.name and e.name != own_name else None,
        )
        for e in enrollments
    ]


def user_names(user_ids: set[int]) -> dict[int, str]:
    ids = {i for i in user_ids if i}
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return dict(rows.all())


def format_value(
    field: str, value, revealed: bool, regions: dict[str, str], users: dict[int, str] | None = None
) -> str:
    """One history value as shown: Chinese labels, names of regions and users, masked secrets."""
    if field == "assignee_id" and value is None:
        return "（未分配）"
    if value is None or value == "":
        return "（空）"
    if field == "assignee_id":
        return (users or {}).get(value, f"用户 {value}")
    if field == "visit_outcome":
        return OUTCOME_LABELS.get(value, str(value))
    if field == "review":
        return REVIEW_STATE_LABELS.get(value, str(value))
    if field in SECRET_FIELDS:
        return str(value) if revealed else SECRET_FIELDS[field](str(value))
    if field in REGION_FIELDS:
        return f"{regions[value]}（{value}）" if value in regions else str(value)
    if field == "sex":
        return SEX_LABELS.get(str(value), str(value))
    if field == "key_populations":
        return "、".join(k.label for k in key_populations(int(value))) or "无"
    if field in ("e_credential", "in_register", "in_resident_list"):
        return "是" if value in (True, 1, "1", "true") else "否"
    if field == "insured_status":
        return codes.INSURED_STATUS_LABELS.get(value, str(value))
    if field == "insured_scheme":
        return codes.SCHEME_LABELS.get(value, str(value))
    if field == "file_state":
        return STATE_LABELS.get(value, str(value))
    if field == "reason_code":
        return codes.REASON_LABELS.get(value, str(value))
    if field == "excluded_reason":
        return codes.EXCLUSION_REASON_LABELS.get(value, str(value))
    return str(value)


def history_of(person: Person, revealed: bool = False) -> list[HistoryEntry]:
    """The change history, newest first, each field as label: old → new."""
    rows = list(
        db.session.scalars(
            select(PersonChange)
            .where(PersonChange.person_id == person.id)
            .order_by(PersonChange.at.desc(), PersonChange.id.desc())
            .limit(HISTORY_LIMIT)
        )
    )
    creator = _creating_batch_user(person) if len(rows) < HISTORY_LIMIT else None
    # Files opened at the person's first comparison, which wrote no history row for them.
    oldest = rows[-1].at if len(rows) == HISTORY_LIMIT else None
    first_runs = [
        f for f in person.files
        if f.opened_by_run_id is not None and (oldest is None or f.opened_at >= oldest)
    ]  # fmt: skip
    run_users = _run_users({f.opened_by_run_id for f in first_runs})
    names = user_names(
        {r.user_id for r in rows}
        | ({creator} if creator else set())
        | set(run_users.values())
        | {
            v
            for r in rows
            for v in (r.changes or {}).get("assignee_id") or ()
            if isinstance(v, int)
        }
    )
    codes_ = {
        v
        for r in rows
        for field, pair in (r.changes or {}).items()
        if field in REGION_FIELDS and isinstance(pair, list)
        for v in pair
        if v
    }
    regions = region_names(codes_)
    from portal.visits import evidence  # the visits package reads persons: imported here

    images = evidence.of_visits(r.batch_id for r in rows if r.cause == "visit")
    entries = []
    for row in rows:
        changes = row.changes or {}
        fields = [
            FieldChange(
                FIELD_LABELS.get(field, field),
                format_value(field, pair[0], revealed, regions, names),
                format_value(field, pair[1], revealed, regions, names),
            )
            for field, pair in changes.items()
            if isinstance(pair, list) and len(pair) == 2
        ]
        entries.append(
            HistoryEntry(
                at=row.at,
                who=names.get(row.user_id, "系统") if row.user_id else "系统",
                cause=CAUSE_LABELS.get(row.cause, row.cause),
                created=bool(changes.get("created")),
                fields=fields,
                evidence=images.get(row.batch_id, []) if row.cause == "visit" else [],
            )
        )
    for file in first_runs:
        user = run_users.get(file.opened_by_run_id)
        entries.append(
            HistoryEntry(
                at=file.opened_at,
                who=names.get(user, "系统") if user else "系统",
                cause=CAUSE_LABELS["comparison"],
                created=False,
                fields=[
                    FieldChange(
                        FIELD_LABELS[field],
                        format_value(field, old, revealed, regions, names),
                        format_value(field, new, revealed, regions, names),
                    )
                    for field, (old, new) in FIRST_COMPARISON.items()
                ],
            )
        )
    if first_runs:
        entries.sort(key=lambda entry: entry.at, reverse=True)  # stable: ties keep their order
    if person.created_batch_id is not None and len(rows) < HISTORY_LIMIT:
        entries.append(  # the oldest entry: the import that created the person
            HistoryEntry(
                at=person.created_at,
                who=names.get(creator, "系统") if creator else "系统",
                cause=CAUSE_LABELS["import"],
                created=True,
                fields=[],
            )
        )
    return entries


def _run_users(run_ids: set[int]) -> dict[int, int]:
    """The user who started each comparison run."""
    if not run_ids:
        return {}
    rows = db.session.execute(
        select(ComparisonRun.id, ComparisonRun.user_id).where(ComparisonRun.id.in_(run_ids))
    )
    return {run_id: user_id for run_id, user_id in rows if user_id}


def _creating_batch_user(person: Person) -> int | None:
    if person.created_batch_id is None:
        return None
    return db.session.scalar(
        select(ImportBatch.user_id).where(ImportBatch.id == person.created_batch_id)
    )


def detail_context(person: Person, revealed: bool = False, actor=None) -> dict:
    """Everything the detail page shows besides the person's own columns."""
    files = list(person.files)
    enrollments = enrollments_of(person, actor)
    regions = region_names(
        {person.region_code, person.hukou_region_code}
        | _place_codes(person.insured_region_code)
        | {f.region_code for f in files}
        | {code for e in enrollments for code in _place_codes(e.region_code)}
        | {region_codes.pad(e.vouched_prefix) for e in enrollments if e.vouched_prefix}
    )
    return {
        "person": person,
        "current": current_file(person),
        "files": files,
        "assignees": user_names({f.assignee_id for f in files}),
        "enrollments": enrollment_rows(person, enrollments, regions),
        "insured_place": place_label(person.insured_region_code, regions),
        "insured_elsewhere": elsewhere(person, person.insured_region_code),
        "exclusion_labels": codes.EXCLUSION_REASON_LABELS,
        "history": history_of(person, revealed),
        "regions": regions,
        "age": age(person.birth_date),
        "key_populations": key_populations(person.key_populations),
        "revealed": revealed,
    }
