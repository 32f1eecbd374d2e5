"""The report forms' figures (portal/reports/forms.py): computed per child region from the
maintained roll-ups, every balance rule holding on a realistic world, a broken one reported in
Chinese, frozen into a snapshot and compared with the current figures."""

import json

import pytest

from portal.duplicates import figures as duplicate_figures
from portal.extensions import db
from portal.persons.models import Person
from portal.regions.models import Region
from portal.reports import forms
from portal.reports.expressions import ExpressionError, parse_comparison, parse_sum
from portal.reports.spec import DefinitionError, FormDefinition
from portal.stats import maintain
from tests.factories import FUNING, enroll, run
from tests.factories.reports import FUCHENG, WUTAN_STREET, YANCHENG, build_report_world


def row_of(table, code):
    return next(row for row in table.rows if row.region_code == code)


def by_label(table, row, label, group=None):
    column = next(
        c for c in table.form.columns if c.label == label and (group is None or c.group == group)
    )
    return row.values.get(column.code)


def test_both_forms_are_defined_as_data_with_their_identity():
    assert list(forms.FORMS)[:2] == ["cleanup_summary", "not_enrolled"]
    summary = forms.FORMS["cleanup_summary"]
    assert summary.title == "基本医疗保险参保情况清查工作汇总表"
    assert summary.table_number == "医保清查1表" and summary.unit == "人"
    assert forms.FORMS["not_enrolled"].title == "不参加基本医疗保险人员情况表"
    assert forms.FORMS["not_enrolled"].detail and not summary.detail


def test_the_cleanup_summary_counts_each_street_of_the_county(ctx):
    build_report_world()
    table = forms.compute("cleanup_summary", FUNING, 2026)
    assert (
        table.region_name == "阜宁县"
        and table.title == "阜宁县2026年度基本医疗保险参保情况清查工作汇总表"
    )
    children = [r.code for r in db.session.scalars(Region.children_query(FUNING))]
    # One row per street (zeros included), then 本级: a case counted at the county's own code.
    assert [r.region_code for r in table.rows] == [*children, FUNING]
    assert table.rows[-1].name == "本级"
    fucheng, wutan = row_of(table, FUCHENG), row_of(table, WUTAN_STREET)
    # Fucheng: 3 + 1 insured one scheme each, one insured twice (counted once, as employee),
    # the one named otherwise; 4 uninsured; the deceased excluded.
    assert by_label(table, fucheng, "合计", "已参保人数") == 5
    assert by_label(table, fucheng, "职工医保") == 2
    assert by_label(table, fucheng, "居民医保") == 3
    assert by_label(table, fucheng, "应参保人数") == 9
    assert by_label(table, fucheng, "户籍人口") == 10
    assert by_label(table, fucheng, "未参保人数") == 4
    assert by_label(table, fucheng, "断缴人数") == 1
    assert by_label(table, fucheng, "发现", "身份信息错误") == 1
    assert by_label(table, fucheng, "已更正", "身份信息错误") is None  # the data cannot say
    # Duplicates: Fucheng a cross case resolved, a resident one open; Wutan an employee case
    # resolved and one found not to be a duplicate (neither found nor its deduction counted).
    assert by_label(table, fucheng, "发现", "制度内重复参保") == 1
    assert by_label(table, fucheng, "已清理", "制度内重复参保") == 0
    assert by_label(table, fucheng, "发现", "跨制度重复参保") == 1
    assert by_label(table, fucheng, "已清理", "跨制度重复参保") == 1
    assert by_label(table, fucheng, "财政补助扣减人数") == 1
    assert by_label(table, wutan, "发现", "制度内重复参保") == 1
    assert by_label(table, wutan, "已清理", "制度内重复参保") == 1
    assert by_label(table, wutan, "财政补助扣减人数") == 0
    # An empty street is there with zeros.
    empty = row_of(table, children[-1])
    assert set(empty.values.values()) == {0}
    assert forms.check(table) == []


def test_the_total_is_the_sum_of_the_rows_and_equals_the_parent_figures(ctx):
    build_report_world()
    for form_code in forms.FORMS:
        for region in (FUNING, YANCHENG, FUCHENG):
            table = forms.compute(form_code, region, 2026)
            assert forms.check(table) == [], (form_code, region)
            for column in table.form.columns:
                if column.source:
                    total = sum(row.values[column.code] for row in table.rows)
                    assert table.total.values[column.code] == total
    city = forms.compute("cleanup_summary", YANCHENG, 2026)
    county = forms.compute("cleanup_summary", FUNING, 2026)
    assert row_of(city, FUNING).values == county.total.values


def test_the_not_enrolled_form_sums_its_reasons_and_counts_key_populations(ctx):
    world = build_report_world()
    table = forms.compute("not_enrolled", FUNING, 2026)
    fucheng, wutan = row_of(table, FUCHENG), row_of(table, WUTAN_STREET)
    assert by_label(table, fucheng, "未参保人数") == 4
    assert by_label(table, fucheng, "经济困难") == 1
    assert by_label(table, fucheng, "原因未登记") == 3
    assert by_label(table, fucheng, "未建档") == 0
    # Wutan: one away working, one without a reason, one registered after the comparison.
    assert by_label(table, wutan, "未参保人数") == 3
    assert by_label(table, wutan, "外出务工") == 1
    assert by_label(table, wutan, "未建档") == 1
    # A person in two key populations counts in each.
    assert by_label(table, fucheng, "特困人员") == 1 and by_label(table, fucheng, "低保对象") == 1
    assert by_label(table, wutan, "新生儿") == 1
    assert by_label(table, table.total, "未参保人数") == len(world.uninsured)
    assert forms.check(table) == []


def test_a_broken_balance_rule_is_reported_in_chinese_naming_row_and_columns(ctx):
    build_report_world()
    table = forms.compute("cleanup_summary", FUNING, 2026)
    fucheng = row_of(table, FUCHENG)
    fucheng.values["c4"] += 1  # one more employee than the insured hold
    table.total = forms.total_of(table.form, table.rows)
    failures = forms.check(table)
    assert failures[0] == (
        "「阜城街道」行：已参保人数合计应等于职工医保与居民医保参保人数之和"
        "（第3栏（已参保人数合计） = 5，≠ "
        "第4栏（已参保人数职工医保）+第5栏（已参保人数居民医保） = 6）。"
    )
    assert any(f.startswith("「合计」行：已参保人数合计") for f in failures)
    # A 合计 row that is not the sum of the rows is a failure of its own.
    table.total.values["c14"] += 2
    assert any("第14栏（未参保人数）" in f and "不等于各行之和" in f for f in forms.check(table))


def test_a_snapshot_round_trips_as_json_and_keeps_the_definition(ctx):
    build_report_world()
    table = forms.compute("not_enrolled", FUNING, 2026)
    data = json.loads(json.dumps(table.to_snapshot(), ensure_ascii=False))
    again = forms.FormTable.from_snapshot(data)
    assert again.frozen and again.rows == table.rows and again.total == table.total
    assert again.as_of == table.as_of and again.title == table.title
    assert again.form == table.form
    assert forms.differences(again, table) == []
    assert forms.check(again) == []


def test_a_change_after_submission_is_a_difference_and_the_snapshot_stays(ctx):
    world = build_report_world()
    submitted = forms.compute("cleanup_summary", FUNING, 2026)
    snapshot = submitted.to_snapshot()
    # Two uninsured persons of Fucheng enroll as residents; the next comparison finds them.
    for id_number in world.uninsured[:2]:
        enroll(id_number)
    run(FUNING, 2026, run_id=72)
    current = forms.compute("cleanup_summary", FUNING, 2026)
    found = {
        (d.region_name, d.column_label): (d.submitted, d.current)
        for d in forms.differences(forms.FormTable.from_snapshot(snapshot), current)
    }
    assert found[("阜城街道", "已参保人数·合计")] == (5, 7)
    assert found[("阜城街道", "已参保人数·居民医保")] == (3, 5)
    assert found[("阜城街道", "未参保人数")] == (4, 2)
    assert found[("合计", "未参保人数")] == (7, 5)
    assert forms.FormTable.from_snapshot(snapshot).rows == submitted.rows


def test_balance_rules_hold_for_insured_by_scheme_after_duplicate_decisions(ctx):
    """insured = employee + resident on real data: the comparison always sets the scheme."""
    build_report_world()
    missing = db.session.query(Person).filter(
        Person.insured_status == "insured", Person.insured_scheme.is_(None)
    )
    assert missing.count() == 0
    connection = db.session.connection()
    assert maintain.differences(connection, prefix="320923", year=2026) == {}
    assert duplicate_figures.differences(connection, 2026) == {}


def test_the_expressions_refuse_anything_but_sums():
    assert parse_sum("a + b - c").value({"a": 5, "b": 2, "c": 1}) == 6
    assert parse_comparison("c3 = c4 + c5").holds({"c3": 3, "c4": 1, "c5": 2}) is True
    assert parse_comparison("c9 <= c8").holds({"c9": 3, "c8": 2}) is False
    for bad in ("__import__('os')", "a * b", "a b", "a.b", "", "a + "):
        with pytest.raises(ExpressionError):
            parse_sum(bad)
    with pytest.raises(ExpressionError):
        parse_comparison("c1 + c2")


def test_a_definition_naming_an_unknown_figure_is_refused_with_the_file():
    data = forms.FORMS["cleanup_summary"].as_dict()
    data["columns"][0] = {"code": "c1", "label": "户籍人口", "source": "population"}
    with pytest.raises(DefinitionError, match="x.toml.*未知的指标：population"):
        FormDefinition.from_dict(data, "x.toml", {"register"})
    data["columns"][0] = {"code": "c1", "label": "户籍人口"}  # no source, no note
    with pytest.raises(DefinitionError, match="须以 note 说明原因"):
        FormDefinition.from_dict(data, "x.toml")
