"""Household rows: validation reasons, and the set-based upsert with its counts and history."""

from datetime import date

import pytest
from sqlalchemy import select

from permissions import scope_for
from portal.extensions import db
from portal.imports import apply
from portal.imports.validation import RegionResolver, household_row
from portal.persons.models import Person, PersonChange

TODAY = date(2026, 11, 23)
VALID = "11010519491231002X"  # female, born 1949-12-31
OTHER = "510107200002290045"  # female, born 2000-02-29


@pytest.fixture
def resolver(ctx, user):
    return RegionResolver(scope_for(user("fn_staff"), "data.import"))


def row(**values):
    base = {"id_number": VALID, "name": "张三", "region": "320923001001"}
    return base | values


def test_a_clean_row_becomes_person_columns(resolver):
    result = household_row(
        row(sex="女", birth_date="1949/12/31", phone="138 1234 5678", address="阜城街道1号"),
        resolver,
        TODAY,
    )
    assert result == {
        "id_number": VALID,
        "name": "张三",
        "sex": "2",
        "birth_date": date(1949, 12, 31),
        "phone": "13812345678",
        "region_code": "320923001001",
        "hukou_region_code": None,
        "address": "阜城街道1号",
    }


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"name": ""}, "缺少姓名"),
        ({"sex": "男"}, "性别「男」与身份证号不符"),
        ({"birth_date": "1950-01-01"}, "与身份证号中的1949-12-31不符"),
        ({"birth_date": "去年"}, "无法识别"),
        ({"phone": "12345"}, "不是有效的手机号或固定电话"),
        ({"region": ""}, "缺少所属社区"),
        ({"region": "320923001000"}, "所属区划须填到社区"),
        ({"region": "320902001001"}, "不在您的管辖范围内"),
        ({"region": "999999999999"}, "不存在"),
        ({"region": "没有这个社区"}, "找不到名为「没有这个社区」"),
        ({"id_number": 3.20923199001011e17}, "数字"),
    ],
)
def test_bad_rows_get_a_chinese_reason(resolver, values, reason):
    result = household_row(row(**values), resolver, TODAY)
    assert isinstance(result, str) and reason in result


def test_community_given_by_name_unique_in_scope(resolver):
    assert household_row(row(region="兴阜居委会"), resolver, TODAY)["region_code"] == "320923001001"


def _apply(rows, actor, user, batch_id=None):
    connection = db.session.connection()
    apply.create_stage(connection)
    apply.stage_rows(connection, rows)
    return apply.apply_household(
        connection, scope_for(user(actor), "data.import"), batch_id=batch_id, user_id=user(actor).id
    )


def _rows(**changes):
    first = {
        "id_number": VALID,
        "name": "张三",
        "sex": "2",
        "birth_date": date(1949, 12, 31),
        "phone": None,
        "region_code": "320923001001",
        "hukou_region_code": None,
        "address": None,
    }
    second = first | {
        "id_number": OTHER,
        "name": "李四",
        "birth_date": date(2000, 2, 29),
        "region_code": "320923001002",
    }
    return [(2, first | changes), (3, second)]


def test_created_then_unchanged_then_updated_with_history(ctx, user):
    first = _apply(_rows(), "fn_staff", user, batch_id=41)
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    again = _apply(_rows(), "fn_staff", user)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    moved = _apply(
        _rows(name="张三丰", region_code="320923001003"), "fn_staff", user, batch_id=None
    )
    assert (moved.created, moved.updated, moved.unchanged) == (0, 1, 1)
    person = db.session.scalar(select(Person).where(Person.id_number == VALID))
    db.session.refresh(person)
    assert (person.name, person.region_code, person.version) == ("张三丰", "320923001003", 2)
    changes = db.session.scalars(
        select(PersonChange.changes)
        .where(PersonChange.person_id == person.id)
        .order_by(PersonChange.id)
    ).all()
    # The creation is the person's created_batch_id, not a history row.
    assert person.created_batch_id == 41
    assert changes == [
        {"name": ["张三", "张三丰"], "region_code": ["320923001001", "320923001003"]}
    ]


def _tinghu_staff(user):
    """th_grid as county staff of Tinghu: an importer outside Funing."""
    from portal.accounts.models import Grant

    outsider = user("th_grid")
    outsider.grants.append(Grant(role="county_staff", region_code="320902000000"))
    db.session.flush()


def test_a_register_takes_over_a_person_another_register_placed(ctx, user):
    """A household move (户口迁移): the destination's register is the newer truth."""
    _apply(_rows(), "fn_staff", user)
    _tinghu_staff(user)
    result = _apply([(7, _rows()[0][1] | {"region_code": "320902001001"})], "th_grid", user)
    assert (result.rejected, result.updated, result.created) == ([], 1, 0)
    person = db.session.scalar(select(Person).where(Person.id_number == VALID))
    db.session.refresh(person)
    assert person.region_code == "320902001001"


def test_a_register_leaves_a_resident_where_a_resident_list_places_them(ctx, user):
    _apply(_rows(), "fn_staff", user)
    connection = db.session.connection()
    apply.create_stage(connection)
    apply.stage_rows(connection, _rows()[:1])
    apply.apply_household(
        connection,
        scope_for(user("fn_staff"), "data.import"),
        batch_id=None,
        user_id=user("fn_staff").id,
        list_flag="in_resident_list",
    )
    _tinghu_staff(user)
    result = _apply([(7, _rows()[0][1] | {"region_code": "320902001001"})], "th_grid", user)
    assert result.rejected and result.rejected[0][0] == 7
    assert "常住人口名册登记此人居住在辖区外的兴阜居委会" in result.rejected[0][1]
    assert result.updated == 0 and result.created == 0
    person = db.session.scalar(select(Person).where(Person.id_number == VALID))
    db.session.refresh(person)
    assert person.region_code == "320923001001"
