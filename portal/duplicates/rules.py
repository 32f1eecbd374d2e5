"""Which record of a duplicate enrollment to keep: the policy's keep-rules, as one table.

Source: 002_3e9ee700883eea6a.txt, 二(五) 有序清理重复参保 and 二(七) 加强财政补助资金管理 (the
words below are quoted as the document writes them, its half-width punctuation included).

A case's records are tried against RULES in order; the first rule that applies decides. A rule
either names the record to keep (the others are terminated, or suspended for flexible work), or
says which fact it lacks (`missing`): the case then goes to a person with no recommended
record. A case no rule applies to says so (`no_rule`).

Decisions taken here (the policy leaves them open):
- A record's insured place (参保地, a 6/9/12-digit code padded to 12) "holds" a place when the
  place's code lies under it: insured at 320923 (阜宁县) holds 就业地 320923001001.
- 就业地 / 学籍地 are read from the records' employer_region_code (the extract's column may be
  given on any of the person's rows); 常住地 is the person's community (person.region_code) when
  the person is on the register or the resident list.
- 12 months of employee insurance: the record's 连续参保月数 when the extract gives it;
  otherwise the record's start date lies 12 months or more before the insurance year's
  coverage start and its payment status is not 欠费/停缴 (the record is normal). Without either,
  the fact is missing.
- Flexible work: a record of category 灵活就业 (非全日制、临时、个体) in a cross-scheme case.
  The record that pays benefits must be the only one whose 享受待遇 is 是, the others 否.
- Student: any record of category 学生; the school's place is that record's
  employer_region_code (学籍地).
- Subsidy (二(七)): each resident record other than the kept one loses the year's government
  subsidy, except a student's in the year of entry, known as: a student record that starts
  within the insurance year's coverage period. Undecided resident × resident cases already
  count all their resident records but one (whichever is kept); undecided cross-scheme cases
  count nothing until decided (`subsidy_deductions` recounts with the kept record).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from portal.duplicates.codes import CATEGORY_LABELS, PAYMENT_LABELS
from portal.regions.codes import CODE_LENGTH

# The definition (二(五), first paragraph), shown with every case.
DEFINITION = "具体表现为同一时间段内同一参保人有两条及以上参保缴费状态正常的参保信息记录。"
TERMINATE_WORDS = "以上各类情形在保留一个参保关系同时,应及时终止重复的参保关系。"
SUBSIDY_WORDS = (
    "除大中专学生入学当年重复参加居民医保情形外，其他重复参加居民医保的，需终止相关居民医保"
    "参保关系，并扣减重复参保当年涉及的各级财政补助资金。"
)
CROSS_SUBSIDY_WORDS = (
    "跨制度重复参保且连续参加职工医保一年以上（含一年）、参保缴费状态正常的，在按本意见规定的"
    "原则处理后扣减重复参保当年居民医保的各级财政补助资金。"
)

MISSING = {
    "employment_place": "缺少就业地",
    "residence": "缺少常住地",
    "school_place": "缺少学籍地",
    "continuous_months": "缺少连续参保月数",
    "benefits": "缺少待遇享受状态",
    "ambiguous": "多条记录均符合",
    "none_match": "没有一条记录符合",
    "no_rule": "政策未规定此情形",
}
FACT_LABELS = {
    "scheme": "险种",
    "insured_place": "参保地",
    "category": "人员类别",
    "employment_place": "就业地",
    "residence": "常住地",
    "school_place": "学籍地",
    "continuous_months": "连续参保月数",
    "start_date": "参保开始日期",
    "payment_status": "缴费状态",
    "benefits": "待遇享受状态",
}
ACTION_WORDS = {"keep": "保留", "terminate": "终止", "suspend": "暂停"}
SCHEME_WORDS = {"employee": "职工医保", "resident": "居民医保"}
MONTHS_REQUIRED = 12


@dataclass(frozen=True)
class Record:
    """The facts of one record of a case (plain values, as detection fetches them)."""

    id: int
    scheme: str
    region_code: str  # the insured place
    start_date: date
    end_date: date | None = None
    category: str | None = None
    employer_region_code: str | None = None
    payment_status: str | None = None
    continuous_months: int | None = None
    benefits: bool | None = None


@dataclass(frozen=True)
class Facts:
    """What the rules look at: a case's records, the person's residence, the year's coverage."""

    records: tuple[Record, ...]
    residence: str | None  # person.region_code when the person is on a register, else None
    coverage: tuple[date, date]  # the insurance year's coverage period

    @property
    def kind(self) -> str:
        schemes = {r.scheme for r in self.records}
        return schemes.pop() if len(schemes) == 1 else "cross"


@dataclass(frozen=True)
class Choice:
    """A rule's answer: the record to keep, or the fact it lacks."""

    keep: int | None = None
    missing: str | None = None


@dataclass(frozen=True)
class Rule:
    code: str
    label: str  # short Chinese name
    applies_when: str  # Chinese: which cases
    keeps: str  # Chinese: which record is kept
    others: str  # what happens to the other records: terminate / suspend
    words: str  # the policy's own words
    needs: tuple[str, ...]  # the facts it reads (FACT_LABELS)
    applies: Callable[[Facts], bool] = field(repr=False, compare=False)
    choose: Callable[[Facts], Choice] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Recommendation:
    kind: str  # employee / resident / cross
    rule: str | None  # the rule that applies (also when it cannot decide)
    recommended_id: int | None  # the record to keep; None: a person decides
    missing: str | None  # MISSING code when undecided
    actions: dict[int, str]  # record id → keep / terminate / suspend (empty when undecided)
    subsidy_deductions: int


# --- places --------------------------------------------------------------------------------

_LEVEL_ENDS = (2, 4, 6, 9, 12)


@lru_cache(maxsize=65_536)  # detection asks for the same few thousand places 100 k times
def place_prefix(code: str) -> str:
    """A region code without the levels it leaves at zeros: 320923000000 → 320923."""
    code = code.ljust(CODE_LENGTH, "0")
    end = 0
    start = 0
    for stop in _LEVEL_ENDS:
        if code[start:stop].strip("0"):
            end = stop
        start = stop
    return code[:end]


@lru_cache(maxsize=65_536)
def holds(insured_place: str, place: str) -> bool:
    """Whether a record insured at `insured_place` is insured at `place` (or above it)."""
    prefix = place_prefix(insured_place)
    return bool(prefix) and place.ljust(CODE_LENGTH, "0").startswith(prefix)


def _at_places(records: Sequence[Record], places: set[str]) -> Choice:
    found = [r for r in records if any(holds(r.region_code, p) for p in places)]
    if len(found) == 1:
        return Choice(keep=found[0].id)
    return Choice(missing="ambiguous" if found else "none_match")


# --- the rules -----------------------------------------------------------------------------


def _is_student(facts: Facts) -> bool:
    return any(r.category == "student" for r in facts.records)


def _school(facts: Facts) -> Choice:
    places = {
        r.employer_region_code
        for r in facts.records
        if r.category == "student" and r.employer_region_code
    }
    if not places:
        return Choice(missing="school_place")
    return _at_places(facts.records, places)


def _employment(facts: Facts) -> Choice:
    places = {r.employer_region_code for r in facts.records if r.employer_region_code}
    if not places:
        return Choice(missing="employment_place")
    return _at_places(facts.records, places)


def _residence(facts: Facts) -> Choice:
    if not facts.residence:
        return Choice(missing="residence")
    return _at_places(facts.records, {facts.residence})


def _is_flexible(facts: Facts) -> bool:
    return facts.kind == "cross" and any(r.category == "flexible" for r in facts.records)


def _benefits(facts: Facts) -> Choice:
    paying = [r for r in facts.records if r.benefits is True]
    if len(paying) > 1:
        return Choice(missing="ambiguous")
    if any(r.benefits is None for r in facts.records):
        return Choice(missing="benefits")
    if not paying:
        return Choice(missing="none_match")
    return Choice(keep=paying[0].id)


def months_before(day: date, months: int) -> date:
    month = day.month - months
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, 28))


def held_a_year(record: Record, coverage_start: date) -> bool | None:
    """Whether an employee record has been held continuously 12 months or more (None: unknown).
    连续参保月数 when given; else a start 12 months or more before the year's coverage start
    with payments not in arrears or stopped."""
    if record.continuous_months is not None:
        return record.continuous_months >= MONTHS_REQUIRED
    if record.start_date <= months_before(coverage_start, MONTHS_REQUIRED) and (
        record.payment_status not in ("unpaid", "stopped")
    ):
        return True
    return None


def _is_cross(facts: Facts) -> bool:
    return facts.kind == "cross"


def _employee_a_year(facts: Facts) -> Choice:
    employee = [r for r in facts.records if r.scheme == "employee"]
    if len(employee) > 1:
        return Choice(missing="ambiguous")
    held = held_a_year(employee[0], facts.coverage[0])
    if held is None:
        return Choice(missing="continuous_months")
    if not held:
        return Choice(missing="no_rule")
    return Choice(keep=employee[0].id)


RULES: tuple[Rule, ...] = (
    Rule(
        "student",
        "学生保留学籍地",
        "有一条记录的人员类别为学生",
        "参保地为学籍地（学校所在地）的记录",
        "terminate",
        "学生重复参保,原则上保留学籍地参保关系",
        ("category", "school_place", "insured_place"),
        _is_student,
        _school,
    ),
    Rule(
        "employee",
        "职工医保制度内保留就业地",
        "重复参加职工医保（各条记录均为职工医保）",
        "参保地为就业地的记录",
        "terminate",
        "重复参加职工医保的,原则上保留就业地参保关系",
        ("scheme", "employment_place", "insured_place"),
        lambda facts: facts.kind == "employee",
        _employment,
    ),
    Rule(
        "resident",
        "居民医保制度内保留常住地",
        "重复参加居民医保（各条记录均为居民医保）",
        "参保地为常住地的记录",
        "terminate",
        "重复参加居民医保的,原则上保留常住地参保关系",
        ("scheme", "residence", "insured_place"),
        lambda facts: facts.kind == "resident",
        _residence,
    ),
    Rule(
        "cross_flexible",
        "灵活就业跨制度保留享受待遇的关系",
        "跨制度重复参保，且有一条记录的人员类别为灵活就业（非全日制、临时性工作等）",
        "可享受待遇的记录",
        "suspend",
        "以非全日制、临时性工作等灵活就业形式的跨制度重复参保,保留一个可享受待遇的参保关系,"
        "暂停重复的参保关系。",
        ("scheme", "category", "benefits"),
        _is_flexible,
        _benefits,
    ),
    Rule(
        "cross_employee_year",
        "跨制度且职工医保连续一年以上保留职工医保",
        "跨制度重复参保（职工医保与居民医保）",
        "职工医保记录（连续参保12个月及以上）",
        "terminate",
        "跨制度重复参保且连续参加职工医保一年以上(含一年)的,原则上保留职工医保参保关系。",
        ("scheme", "continuous_months", "start_date", "payment_status"),
        _is_cross,
        _employee_a_year,
    ),
)
RULE_BY_CODE = {rule.code: rule for rule in RULES}


# --- recommending ----------------------------------------------------------------------------


def entry_year(facts: Facts) -> bool:
    """A student in the year of entry: a student record starting within the coverage period."""
    start, end = facts.coverage
    return any(r.category == "student" and start <= r.start_date <= end for r in facts.records)


def subsidy_deductions(facts: Facts, kept_id: int | None) -> int:
    """The resident records that lose the year's government subsidy when `kept_id` is kept
    (None: undecided — resident × resident still counts all but one)."""
    if _is_student(facts) and entry_year(facts):
        return 0
    resident = [r for r in facts.records if r.scheme == "resident"]
    if kept_id is None:
        return len(resident) - 1 if facts.kind == "resident" else 0
    return sum(1 for r in resident if r.id != kept_id)


def recommend(facts: Facts) -> Recommendation:
    """The first rule that applies, its choice, the actions and the subsidy deductions."""
    kind = facts.kind
    for rule in RULES:
        if not rule.applies(facts):
            continue
        choice = rule.choose(facts)
        if choice.keep is None:
            code = None if choice.missing == "no_rule" else rule.code
            deductions = subsidy_deductions(facts, None)
            return Recommendation(kind, code, None, choice.missing, {}, deductions)
        actions = {r.id: rule.others for r in facts.records}
        actions[choice.keep] = "keep"
        deductions = subsidy_deductions(facts, choice.keep)
        return Recommendation(kind, rule.code, choice.keep, None, actions, deductions)
    return Recommendation(kind, None, None, "no_rule", {}, subsidy_deductions(facts, None))


# --- explaining ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    """What the worklist shows for a case, in Chinese."""

    recommended_id: int | None
    rule: Rule | None
    recommendation: str  # which record to keep, or why a person must decide
    words: str  # the policy's words for the rule (and what happens to the others)
    consequence: str  # the subsidy consequence
    missing: str | None  # MISSING label

    @property
    def text(self) -> str:
        return "\n".join(
            part for part in (self.recommendation, self.words, self.consequence) if part
        )


def describe(record: Record, names: dict[str, str] | None = None) -> str:
    """A record in a few words: 居民医保 · 参保地 阜宁县 · 自 2026-01-01 (the code where `names`
    does not name the place)."""
    place = (names or {}).get(record.region_code) or record.region_code
    parts = [SCHEME_WORDS.get(record.scheme, record.scheme), f"参保地 {place}"]
    if record.category:
        parts.append(CATEGORY_LABELS.get(record.category, record.category))
    if record.payment_status:
        parts.append(PAYMENT_LABELS.get(record.payment_status, record.payment_status))
    parts.append(f"自 {record.start_date.isoformat()}")
    return " · ".join(parts)


_NONE_MATCH = {
    "student": "没有一条记录的参保地在学籍地",
    "employee": "没有一条记录的参保地在就业地",
    "resident": "没有一条记录的参保地在常住地",
    "cross_flexible": "没有一条记录可享受待遇",
}


def missing_label(rule: str | None, missing: str | None) -> str | None:
    if missing is None:
        return None
    if missing == "none_match" and rule in _NONE_MATCH:
        return _NONE_MATCH[rule]
    return MISSING.get(missing, missing)


def explain_facts(
    facts: Facts, rec: Recommendation, names: dict[str, str] | None = None
) -> Explanation:
    """`names`: region code → name, for the places the text mentions (else their codes)."""
    rule = RULE_BY_CODE.get(rec.rule) if rec.rule else None
    by_id = {r.id: r for r in facts.records}
    missing = missing_label(rec.rule, rec.missing)
    if rec.recommended_id is not None and rule is not None:
        kept = by_id[rec.recommended_id]
        action = ACTION_WORDS[rule.others]
        recommendation = (
            f"建议保留：{describe(kept, names)}（{rule.keeps}），"
            f"{action}其余 {len(by_id) - 1} 条记录。"
        )
        words = f"依据：“{rule.words}”"
        if rule.others == "terminate":
            words += f"“{TERMINATE_WORDS}”"
    elif rule is not None:
        recommendation = (
            f"无法自动判断（{missing}），需人工核实：按“{rule.label}”应保留{rule.keeps}。"
        )
        words = f"依据：“{rule.words}”"
    else:
        recommendation = f"无法自动判断（{missing}），需人工核实。"
        words = f"依据：“{DEFINITION}”"
    if rec.subsidy_deductions:
        quote = CROSS_SUBSIDY_WORDS if rec.kind == "cross" else SUBSIDY_WORDS
        consequence = (
            f"财政补助：扣减 {rec.subsidy_deductions} 条居民医保记录当年的各级财政补助资金。"
            f"依据：“{quote}”"
        )
    elif _is_student(facts) and entry_year(facts):
        consequence = f"财政补助：学生入学当年重复参加居民医保，不扣减。依据：“{SUBSIDY_WORDS}”"
    else:
        consequence = "财政补助：不涉及扣减。"
    return Explanation(rec.recommended_id, rule, recommendation, words, consequence, missing)


def explain(case) -> Explanation:
    """The recommended record, the rule's words and the subsidy consequence of a case
    (a DuplicateCase), read from its member records as they are now."""
    from portal.duplicates.detect import case_facts
    from portal.persons.queries import region_names

    facts = case_facts(case)
    rec = Recommendation(
        facts.kind,
        case.rule,
        case.recommended_id,
        case.missing,
        {},
        case.subsidy_deductions,
    )
    if case.recommended_id is not None and case.recommended_id not in {r.id for r in facts.records}:
        rec = recommend(facts)
    return explain_facts(facts, rec, region_names({r.region_code for r in facts.records}))
