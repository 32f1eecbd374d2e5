"""The keep-rules of duplicate enrollment (issue 20, part 3), table-driven: one case per rule and
per undecidable case, with the recommended record and the stated reason."""

from datetime import date

import pytest

from portal.duplicates.rules import (
    MISSING,
    RULES,
    Facts,
    Record,
    explain_facts,
    holds,
    place_prefix,
    recommend,
)

YEAR = (date(2027, 1, 1), date(2027, 12, 31))
FUNING = "320923000000"
FUNING_COMMUNITY = "320923001001"
TINGHU = "320902000000"
TINGHU_COMMUNITY = "320902001001"
NANJING = "320106000000"
YANCHENG_CITY = "320900000000"


def emp(id_, place, **facts) -> Record:
    return Record(id_, "employee", place, facts.pop("start", date(2020, 1, 1)), **facts)


def res(id_, place, **facts) -> Record:
    return Record(id_, "resident", place, facts.pop("start", date(2027, 1, 1)), **facts)


# (name, records, residence, expected rule, expected kept id, expected missing, others' action)
CASES = [
    (
        "employee×employee keeps the place of employment",
        [emp(1, FUNING), emp(2, TINGHU, employer_region_code=TINGHU_COMMUNITY)],
        None,
        "employee",
        2,
        None,
        "terminate",
    ),
    (
        "employee×employee without a place of employment",
        [emp(1, FUNING), emp(2, TINGHU)],
        None,
        "employee",
        None,
        "employment_place",
        None,
    ),
    (
        "employee×employee: both records at the place of employment",
        [emp(1, FUNING), emp(2, YANCHENG_CITY, employer_region_code=FUNING_COMMUNITY)],
        None,
        "employee",
        None,
        "ambiguous",
        None,
    ),
    (
        "resident×resident keeps the place of habitual residence",
        [res(1, FUNING), res(2, TINGHU)],
        TINGHU_COMMUNITY,
        "resident",
        2,
        None,
        "terminate",
    ),
    (
        "resident×resident of a person on no register",
        [res(1, FUNING), res(2, TINGHU)],
        None,
        "resident",
        None,
        "residence",
        None,
    ),
    (
        "resident×resident, neither record where the person lives",
        [res(1, FUNING), res(2, TINGHU)],
        "320106001001",
        "resident",
        None,
        "none_match",
        None,
    ),
    (
        "a student keeps the school's place",
        [res(1, FUNING), res(2, NANJING, category="student", employer_region_code=NANJING)],
        FUNING_COMMUNITY,  # the residence would keep Funing: the student rule comes first
        "student",
        2,
        None,
        "terminate",
    ),
    (
        "a student without the school's place",
        [res(1, FUNING), res(2, NANJING, category="student")],
        FUNING_COMMUNITY,
        "student",
        None,
        "school_place",
        None,
    ),
    (
        "across schemes, employee insurance 12 months or more",
        [emp(1, TINGHU, continuous_months=12), res(2, FUNING)],
        FUNING_COMMUNITY,
        "cross_employee_year",
        1,
        None,
        "terminate",
    ),
    (
        "across schemes, no months given but started long before the year",
        [emp(1, TINGHU, start=date(2025, 6, 1)), res(2, FUNING)],
        None,
        "cross_employee_year",
        1,
        None,
        "terminate",
    ),
    (
        "across schemes, months unknown and a recent start",
        [emp(1, TINGHU, start=date(2026, 6, 1)), res(2, FUNING)],
        None,
        "cross_employee_year",
        None,
        "continuous_months",
        None,
    ),
    (
        "across schemes, an old start but payments stopped",
        [emp(1, TINGHU, start=date(2020, 1, 1), payment_status="stopped"), res(2, FUNING)],
        None,
        "cross_employee_year",
        None,
        "continuous_months",
        None,
    ),
    (
        "across schemes, employee insurance under 12 months: the policy says nothing",
        [emp(1, TINGHU, continuous_months=5), res(2, FUNING)],
        None,
        None,
        None,
        "no_rule",
        None,
    ),
    (
        "across schemes through flexible work keeps the record paying benefits, suspends",
        [emp(1, TINGHU, category="flexible", benefits=False), res(2, FUNING, benefits=True)],
        None,
        "cross_flexible",
        2,
        None,
        "suspend",
    ),
    (
        "flexible work without the benefits status",
        [emp(1, TINGHU, category="flexible", benefits=True), res(2, FUNING)],
        None,
        "cross_flexible",
        None,
        "benefits",
        None,
    ),
    (
        "flexible work, both records paying benefits",
        [emp(1, TINGHU, category="flexible", benefits=True), res(2, FUNING, benefits=True)],
        None,
        "cross_flexible",
        None,
        "ambiguous",
        None,
    ),
]


@pytest.mark.parametrize(
    "name, records, residence, rule, kept, missing, others", CASES, ids=[c[0] for c in CASES]
)
def test_the_keep_rules(name, records, residence, rule, kept, missing, others):
    facts = Facts(tuple(records), residence, YEAR)
    rec = recommend(facts)
    assert (rec.rule, rec.recommended_id, rec.missing) == (rule, kept, missing)
    explained = explain_facts(facts, rec)
    if kept is None:
        assert rec.actions == {}
        assert "无法自动判断" in explained.recommendation
        assert explained.missing in explained.recommendation
        assert explained.missing.startswith(("缺少", "多条", "没有", "政策"))
    else:
        assert rec.actions[kept] == "keep"
        assert {a for i, a in rec.actions.items() if i != kept} == {others}
        assert "建议保留" in explained.recommendation
        words = next(r.words for r in RULES if r.code == rule)
        assert words in explained.words
        assert ("暂停" if others == "suspend" else "终止") in explained.recommendation


def test_every_rule_quotes_the_policy_and_every_missing_fact_has_a_label():
    assert [r.code for r in RULES] == [
        "student",
        "employee",
        "resident",
        "cross_flexible",
        "cross_employee_year",
    ]
    for rule in RULES:
        assert "原则上" in rule.words or "保留一个可享受待遇" in rule.words
        assert rule.others in ("terminate", "suspend") and rule.needs
    assert next(r for r in RULES if r.code == "cross_flexible").others == "suspend"
    assert set(MISSING) >= {
        "employment_place",
        "residence",
        "school_place",
        "continuous_months",
        "benefits",
        "ambiguous",
    }
    assert MISSING["employment_place"] == "缺少就业地"
    assert MISSING["ambiguous"] == "多条记录均符合"


def test_subsidy_deductions():
    resident = Facts((res(1, FUNING), res(2, TINGHU), res(3, NANJING)), TINGHU_COMMUNITY, YEAR)
    rec = recommend(resident)
    assert (rec.recommended_id, rec.subsidy_deductions) == (2, 2)
    assert "扣减 2 条" in explain_facts(resident, rec).consequence
    # Undecided resident × resident: all but one lose it, whichever is kept.
    assert recommend(Facts(resident.records, None, YEAR)).subsidy_deductions == 2
    # Cross-scheme, employee kept: the resident record loses the subsidy.
    cross = Facts((emp(1, TINGHU, continuous_months=30), res(2, FUNING)), None, YEAR)
    assert recommend(cross).subsidy_deductions == 1
    # Employee × employee: no resident subsidy involved.
    both = Facts((emp(1, FUNING), emp(2, TINGHU, employer_region_code=TINGHU)), None, YEAR)
    assert recommend(both).subsidy_deductions == 0
    assert "不涉及扣减" in explain_facts(both, recommend(both)).consequence
    # A student in the year of entry (the student record starts within the year): none.
    school = dict(category="student", employer_region_code=NANJING)
    entering = Facts((res(1, FUNING), res(2, NANJING, **school)), None, YEAR)
    assert recommend(entering).subsidy_deductions == 0
    assert "不扣减" in explain_facts(entering, recommend(entering)).consequence
    later = Facts((res(1, FUNING), res(2, NANJING, start=date(2025, 9, 1), **school)), None, YEAR)
    assert recommend(later).subsidy_deductions == 1


def test_places():
    assert place_prefix(FUNING) == "320923"
    assert place_prefix("320902010000") == "320902010"
    assert place_prefix(YANCHENG_CITY) == "3209"
    assert holds(FUNING, FUNING_COMMUNITY) and holds(YANCHENG_CITY, FUNING_COMMUNITY)
    assert not holds(TINGHU, FUNING_COMMUNITY)
    assert holds(FUNING, "320923")  # a six-digit place
