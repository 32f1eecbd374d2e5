"""The person pages: scoped list and detail, filters, masking, reveal, optimistic-locking edit."""

import re
from datetime import date

import pytest
from sqlalchemy import select, update

from portal.accounts.models import Grant, User
from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.persons import codes
from portal.persons import operations as ops
from portal.persons.models import Enrollment, Person, PersonChange
from tests.factories import FULL_ID, FULL_MOBILE, WUTAN, XINGFU, XINSHENG, YEAR
from tests.helpers import account, database, fetch


@pytest.fixture
def people(make_person):
    """Persons in both streets; files of this year and the last."""
    return {
        "zhang": make_person(
            "张三",
            XINGFU,
            phone="13812345678",
            insured_status="uninsured",
            key_populations=codes.KEY_POPULATION_BY_CODE["extreme_poverty"].bit
            | codes.KEY_POPULATION_BY_CODE["student"].bit,
            address="兴阜路1号",
            files=[
                (YEAR, "assigned", "fc_grid1", "away_working"),
                (YEAR - 1, "declined", "fc_grid2", "declined"),
            ],
        ),
        "li": make_person(
            "李四",
            XINSHENG,
            phone="13900001111",
            insured_status="insured",
            insured_scheme="resident",
            birth="19900215",
        ),
        "wang": make_person(
            "王五",
            WUTAN,
            phone="13700002222",
            insured_status="uninsured",
            files=[(YEAR, "assigned", "wt_grid1", "lost_contact")],
        ),
        # Last year's file was fc_grid1's; this year's is not assigned: not fc_grid1's any more.
        "zhao": make_person(
            "赵六",
            XINGFU,
            phone="051588881234",
            insured_status="uninsured",
            key_populations=codes.KEY_POPULATION_BY_CODE["migrant_worker"].bit,
            files=[
                (YEAR, "unassigned", None, "hardship"),
                (YEAR - 1, "following", "fc_grid1", "hardship"),
            ],
        ),
    }


def names_on(html: str, people) -> set[str]:
    return {key for key, p in people.items() if f'/persons/{p.id}"' in html}


def assert_masked(html: str, *persons):
    assert not FULL_ID.search(html), FULL_ID.search(html).group(0)
    assert not FULL_MOBILE.search(html), FULL_MOBILE.search(html).group(0)
    for p in persons:
        assert p.id_number not in html
        if p.phone:
            assert p.phone not in html


# --- scope ------------------------------------------------------------------------------------


def test_township_supervisor_lists_only_persons_of_the_township(login, people):
    html = login("fc_supervisor").get("/persons/").get_data(as_text=True)
    assert names_on(html, people) == {"zhang", "li", "zhao"}
    assert "共 3 人" in html


def test_county_staff_lists_both_streets(login, people):
    html = login("fn_staff").get("/persons/").get_data(as_text=True)
    assert names_on(html, people) == {"zhang", "li", "wang", "zhao"}


def test_grid_worker_lists_only_persons_whose_current_file_is_theirs(login, people):
    html = login("fc_grid1").get("/persons/").get_data(as_text=True)
    assert names_on(html, people) == {"zhang"}
    assert "共 1 人" in html
    html = login("fc_grid2").get("/persons/").get_data(as_text=True)
    assert names_on(html, people) == set()  # last year's file of 张三 no longer counts


def test_a_person_outside_the_scope_is_not_found(login, people):
    supervisor = login("fc_supervisor")
    assert supervisor.get(f"/persons/{people['zhang'].id}").status_code == 200
    assert supervisor.get(f"/persons/{people['wang'].id}").status_code == 404
    assert supervisor.post(f"/persons/{people['wang'].id}/reveal").status_code == 404
    assert supervisor.get(f"/persons/{people['wang'].id}/edit").status_code == 404
    grid = login("fc_grid1")
    assert grid.get(f"/persons/{people['zhang'].id}").status_code == 200
    assert grid.get(f"/persons/{people['zhao'].id}").status_code == 404
    assert grid.get(f"/persons/{people['li'].id}").status_code == 404
    assert login("wt_supervisor").get(f"/persons/{people['zhang'].id}").status_code == 404


def test_the_community_choices_are_those_of_the_scope(login, people):
    client = login("fc_supervisor")
    html = client.get("/persons/").get_data(as_text=True)
    assert f'value="{XINGFU}"' in html and f'value="{XINSHENG}"' in html
    assert f'value="{WUTAN}"' not in html
    refused = client.get(f"/persons/?region={WUTAN}").get_data(as_text=True)
    assert "不是有效的选择" in refused
    assert names_on(refused, people) == set()


def test_persons_imported_by_the_county_are_listed_for_the_supervisor(app, login):
    from tests.factories import GOOD, household_workbook, run_jobs, upload

    assert upload(login("fn_staff"), household_workbook()).status_code == 302
    run_jobs(app)
    html = login("fc_supervisor").get("/persons/").get_data(as_text=True)
    assert "张一" in html and "张二" in html
    assert "共 5 人" in html
    assert GOOD[0] not in html
    assert_masked(html)


def test_the_history_shows_the_import_that_created_a_person_once(app, login):
    from tests.factories import GOOD, household_workbook, run_jobs, upload

    upload(login("fn_staff"), household_workbook())
    run_jobs(app)
    (person,) = fetch(app, select(Person).where(Person.id_number == GOOD[0]))
    (importer,) = fetch(app, select(User).where(User.username == "fn_staff"))
    assert person.created_batch_id is not None
    assert not fetch(app, select(PersonChange).where(PersonChange.person_id == person.id))
    html = login("fn_staff").get(f"/persons/{person.id}").get_data(as_text=True)
    history = html.split("变更记录", 1)[1]
    assert history.count("建立人员信息") == 1
    assert f"导入</strong> · {importer.display_name}" in history
    assert "没有变更记录" not in history


# --- filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name=三", {"zhang"}),
        ("name=%25", set()),  # a literal %, not a wildcard
        ("phone_tail=5678", {"zhang"}),
        ("phone_tail=1234", {"zhao"}),
        (f"region={XINSHENG}", {"li"}),
        ("insured_status=insured", {"li"}),
        ("insured_status=uninsured", {"zhang", "wang", "zhao"}),
        ("scheme=resident", {"li"}),
        ("key_population=student", {"zhang"}),
        ("key_population=migrant_worker", {"zhao"}),
        ("key_population=government_paid", {"zhang"}),
        ("file_state=assigned", {"zhang", "wang"}),
        ("file_state=unassigned", {"zhao"}),
        ("file_state=declined", set()),  # last year's state of 张三: not the current file
        ("file_state=none", {"li"}),
        ("reason=hardship", {"zhao"}),
        ("reason=away_working&file_state=assigned", {"zhang"}),
    ],
)
def test_filters(login, people, query, expected):
    html = login("fn_staff").get(f"/persons/?{query}").get_data(as_text=True)
    assert names_on(html, people) == expected
    assert f"共 {len(expected)} 人" in html


def test_id_number_filter_takes_the_full_number_or_its_last_digits(login, people):
    """The full number is POSTed (never in a URL: tests/test_no_id_in_urls.py); the last
    digits may also be a link's."""
    client = login("fn_staff")
    full = people["li"].id_number
    for text in (full, full.lower(), full[-6:], full[-4:]):
        html = client.post("/persons/", data={"id_number": text}, follow_redirects=True).get_data(
            as_text=True
        )
        assert names_on(html, people) == {"li"}, text
    for text in (full[-6:], full[-4:]):
        html = client.get("/persons/", query_string={"id_number": text}).get_data(as_text=True)
        assert names_on(html, people) == {"li"}, text
    refused = client.get("/persons/?id_number=123").get_data(as_text=True)
    assert "末 4 至 6 位" in refused and names_on(refused, people) == set()
    wrong_check = full[:17] + ("0" if full[17] != "0" else "1")
    refused = client.post("/persons/", data={"id_number": wrong_check})
    assert "校验位错误" in refused.get_data(as_text=True)


def test_filters_never_widen_the_scope(login, people):
    html = login("fc_grid1").get("/persons/?file_state=assigned").get_data(as_text=True)
    assert names_on(html, people) == {"zhang"}
    html = login("fc_supervisor").get("/persons/?reason=lost_contact").get_data(as_text=True)
    assert names_on(html, people) == set()


def test_list_pages(app, login, make_person):
    for n in range(25):
        make_person(f"翻页{n:02d}", XINGFU)
    client = login("fc_supervisor")
    first = client.get("/persons/?name=翻页").get_data(as_text=True)
    second = client.get("/persons/?name=翻页&page=2").get_data(as_text=True)
    assert "第 1 / 2 页，共 25 条" in first and "翻页00" in first and "翻页24" not in first
    assert "翻页24" in second and "翻页00" not in second


def test_htmx_gets_the_results_only(login, people):
    client = login("fc_supervisor")
    partial = client.get("/persons/?name=张", headers={"HX-Request": "true"})
    html = partial.get_data(as_text=True)
    assert "<html" not in html and "共 1 人" in html
    assert "HX-Request" in partial.headers.get("Vary", "")
    restored = client.get(
        "/persons/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restored.get_data(as_text=True)


def test_government_paid_groups_are_highlighted(login, people):
    html = login("fc_supervisor").get("/persons/").get_data(as_text=True)
    assert "<mark" in html and "特困人员" in html
    assert "须应保尽保" in html  # 张三: government-paid and uninsured


# --- masking and reveal -----------------------------------------------------------------------


def _all_pages(client, people) -> str:
    pages = [client.get("/persons/"), client.get("/persons/?name=张")]
    for key in ("zhang", "zhao"):
        pages.append(client.get(f"/persons/{people[key].id}"))
        pages.append(client.get(f"/persons/{people[key].id}/edit"))
    return "\n".join(r.get_data(as_text=True) for r in pages if r.status_code == 200)


def _edit_phone(client, person, phone):
    form = client.get(f"/persons/{person.id}/edit").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', form).group(1)
    token = re.search(r'name="token" type="hidden" value="([^"]*)"', form).group(1)
    return client.post(
        f"/persons/{person.id}/edit",
        data={
            "version": version,
            "token": token,
            "phone": phone,
            "address": "兴阜路1号",
            "key_populations": ["extreme_poverty", "student"],
            "region_code": XINGFU,
        },
    )


@pytest.mark.parametrize("username", ["fn_staff", "fc_supervisor", "yc_staff"])
def test_no_page_shows_a_full_number_without_a_reveal(app, login, people, username):
    client = login(username)
    # History with an old and a new phone, and an enrollment under the person's ID number.
    assert _edit_phone(login("fc_supervisor"), people["zhang"], "13698765432").status_code == 302
    with database(app) as session:
        session.add(
            Enrollment(
                id_number=people["zhang"].id_number,
                scheme="resident",
                region_code=XINGFU,
                start_date=date(YEAR - 3, 1, 1),
                end_date=date(YEAR - 2, 12, 31),
                status="terminated",
            )
        )
    html = _all_pages(client, people)
    assert "联系电话" in html and "居民医保" in html
    assert_masked(html, *people.values())
    assert "13698765432" not in html


def test_reveal_shows_the_full_numbers_in_that_response_only_and_is_audited(app, login, people):
    client = login("fc_supervisor")
    zhang = people["zhang"]
    detail = client.get(f"/persons/{zhang.id}").get_data(as_text=True)
    assert "显示完整号码" in detail
    revealed = client.post(f"/persons/{zhang.id}/reveal")
    assert revealed.status_code == 200
    html = revealed.get_data(as_text=True)
    assert zhang.id_number in html and zhang.phone in html
    assert f'href="tel:{zhang.phone}"' in html
    events = fetch(app, select(AuditEvent).where(AuditEvent.action == "person.reveal"))
    assert [(e.actor_username, e.target_id, e.region_code) for e in events] == [
        ("fc_supervisor", str(zhang.id), XINGFU)
    ]
    assert zhang.id_number not in events[0].target_label
    again = client.get(f"/persons/{zhang.id}").get_data(as_text=True)
    assert_masked(again, zhang)


def test_reveal_without_the_grant_is_refused_and_the_button_hidden(app, login, people):
    client = login("fn_staff")  # county staff: no person.unmask without the unmask grant
    zhang = people["zhang"]
    assert "显示完整号码" not in client.get(f"/persons/{zhang.id}").get_data(as_text=True)
    refused = client.post(f"/persons/{zhang.id}/reveal")
    assert refused.status_code == 403
    assert zhang.id_number not in refused.get_data(as_text=True)
    assert fetch(app, select(AuditEvent).where(AuditEvent.action == "person.reveal")) == []


def test_staff_with_the_unmask_grant_may_reveal(app, login, people):
    with database(app) as session:
        staff = session.scalar(select(User).where(User.username == "fn_staff"))
        session.add(Grant(user_id=staff.id, role="unmask", region_code="320923000000"))
    client = login("fn_staff")
    assert "显示完整号码" in client.get(f"/persons/{people['wang'].id}").get_data(as_text=True)
    html = client.post(f"/persons/{people['wang'].id}/reveal").get_data(as_text=True)
    assert people["wang"].id_number in html


def test_an_unmask_grant_reveals_only_within_its_region(app, login, people):
    with database(app) as session:
        staff = session.scalar(select(User).where(User.username == "fn_staff"))
        session.add(Grant(user_id=staff.id, role="unmask", region_code="320923001000"))
    client = login("fn_staff")  # views the county, may unmask in Fucheng street only
    assert client.post(f"/persons/{people['zhang'].id}/reveal").status_code == 200
    assert "显示完整号码" not in client.get(f"/persons/{people['wang'].id}").get_data(as_text=True)
    refused = client.post(f"/persons/{people['wang'].id}/reveal")
    assert refused.status_code == 403
    events = fetch(app, select(AuditEvent).where(AuditEvent.action == "person.reveal"))
    assert [e.target_id for e in events] == [str(people["zhang"].id)]


def test_grid_worker_reveals_an_assigned_person(app, login, people):
    client = login("fc_grid1")
    html = client.post(f"/persons/{people['zhang'].id}/reveal").get_data(as_text=True)
    assert people["zhang"].id_number in html
    assert client.post(f"/persons/{people['zhao'].id}/reveal").status_code == 404


def test_revealed_history_shows_full_phones(app, login, people):
    client = login("fc_supervisor")
    zhang = people["zhang"]
    assert _edit_phone(client, zhang, "13698765432").status_code == 302
    masked = client.get(f"/persons/{zhang.id}").get_data(as_text=True)
    assert "138****5678 → 136****5432" in masked
    html = client.post(f"/persons/{zhang.id}/reveal").get_data(as_text=True)
    assert "13812345678 → 13698765432" in html


# --- edit -------------------------------------------------------------------------------------


def _form(client, person):
    html = client.get(f"/persons/{person.id}/edit").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', html).group(1)
    token = re.search(r'name="token" type="hidden" value="([^"]*)"', html).group(1)
    return {"version": version, "token": token}


def _stored(app, person_id) -> Person:
    return fetch(app, select(Person).where(Person.id == person_id))[0]


def test_edit_saves_and_records_the_change(app, login, people):
    client = login("fc_supervisor")
    zhang = people["zhang"]
    before = _stored(app, zhang.id)
    response = client.post(
        f"/persons/{zhang.id}/edit",
        data={
            **_form(client, zhang),
            "phone": "139 0000 2222",
            "address": "新盛路8号",
            "e_credential": "y",
            "key_populations": ["extreme_poverty", "newborn"],
            "region_code": XINSHENG,
        },
    )
    assert response.status_code == 302
    after = _stored(app, zhang.id)
    assert (after.phone, after.address, after.e_credential, after.region_code) == (
        "13900002222",
        "新盛路8号",
        True,
        XINSHENG,
    )
    poverty = codes.KEY_POPULATION_BY_CODE["extreme_poverty"].bit
    assert after.key_populations == poverty | codes.KEY_POPULATION_BY_CODE["newborn"].bit
    assert after.version == before.version + 1
    edits = fetch(
        app, select(PersonChange).where(PersonChange.cause == "edit").order_by(PersonChange.id)
    )
    # The edit, then each open file following the person to 新盛 (persons/moves.py).
    change, *moved = edits
    assert [m.changes["file_region"] for m in moved] == [[XINGFU, XINSHENG]] * 2
    assert change.person_id == zhang.id and change.user_id == account(app, "fc_supervisor").id
    assert change.changes["phone"] == ["13812345678", "13900002222"]
    assert change.changes["region_code"] == [XINGFU, XINSHENG]
    assert change.changes["e_credential"] == [False, True]
    assert "address" in change.changes and "key_populations" in change.changes
    html = client.get(f"/persons/{zhang.id}").get_data(as_text=True)
    assert "已保存：" in html and "<strong>修改</strong> · 阜城街道督导" in html
    assert "管理社区：兴阜居委会" in html and "新盛居委会（320923001002）" in html
    assert "重点人群：特困人员、在校学生 → 特困人员、新生儿" in html
    events = fetch(app, select(AuditEvent).where(AuditEvent.action == "person.edit"))
    assert len(events) == 1 and "13900002222" not in str(events[0].detail)


def test_edit_with_a_stale_version_is_refused_and_lists_what_changed(app, login, people):
    client = login("fc_supervisor")
    zhang = people["zhang"]
    opened = _form(client, zhang)
    # Someone else saves first.
    other = login("fn_staff")
    response = other.post(
        f"/persons/{zhang.id}/edit",
        data={
            **_form(other, zhang),
            "address": "别人改的地址",
            "key_populations": ["extreme_poverty", "student"],
            "region_code": XINGFU,
        },
    )
    assert response.status_code == 302
    stored = _stored(app, zhang.id)
    response = client.post(
        f"/persons/{zhang.id}/edit",
        data={
            **opened,
            "phone": "13600001111",
            "address": "我的地址",
            "key_populations": ["student"],
            "region_code": XINGFU,
        },
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "已被他人修改" in html
    assert "现住址：别人改的地址" in html
    assert "重点人群：" not in html and "联系电话：" not in html  # unchanged by the other user
    assert 'value="我的地址"' in html and 'value="13600001111"' in html  # the input is kept
    assert f'name="version" type="hidden" value="{stored.version}"' in html
    assert _stored(app, zhang.id).address == "别人改的地址"
    assert _stored(app, zhang.id).phone == "13812345678"
    assert _stored(app, zhang.id).version == stored.version
    # Saving again, knowingly, now applies.
    again = client.post(
        f"/persons/{zhang.id}/edit",
        data={
            "version": str(stored.version),
            "token": re.search(r'name="token" type="hidden" value="([^"]*)"', html).group(1),
            "address": "我的地址",
            "key_populations": ["student"],
            "region_code": XINGFU,
        },
    )
    assert again.status_code == 302
    assert _stored(app, zhang.id).address == "我的地址"


def test_a_concurrent_update_between_read_and_write_is_a_conflict(app, ctx, people):
    zhang = people["zhang"]
    actor = db.session.scalar(select(User).where(User.username == "fc_supervisor"))
    person = db.session.get(Person, zhang.id)
    token = ops.edit_token(person)
    version = person.version
    # Another transaction commits after this one has read the row (the ORM does not see it).
    db.session.execute(
        update(Person)
        .where(Person.id == zhang.id)
        .values(address="并发修改", version=Person.version + 1)
        .execution_options(synchronize_session=False)
    )
    values = ops.EditValues(address="我的地址", region_code=XINGFU)
    with pytest.raises(ops.EditConflict) as caught:
        ops.update_person(actor, person, values, version=version, token=token)
    assert ("现住址", "并发修改") in caught.value.fields
    assert db.session.get(Person, zhang.id).address == "并发修改"
    assert db.session.scalars(select(PersonChange).where(PersonChange.cause == "edit")).all() == []


def test_edit_refuses_a_bad_phone_in_chinese(app, login, people):
    client = login("fc_supervisor")
    zhang = people["zhang"]
    response = client.post(
        f"/persons/{zhang.id}/edit",
        data={**_form(client, zhang), "phone": "12345", "region_code": XINGFU},
    )
    assert response.status_code == 200
    assert "联系电话格式不正确" in response.get_data(as_text=True)
    assert _stored(app, zhang.id).phone == "13812345678"


def test_edit_offers_only_communities_in_scope(app, login, people):
    client = login("fc_supervisor")
    zhang = people["zhang"]
    html = client.get(f"/persons/{zhang.id}/edit").get_data(as_text=True)
    assert f'value="{XINSHENG}"' in html and f'value="{WUTAN}"' not in html
    response = client.post(
        f"/persons/{zhang.id}/edit", data={**_form(client, zhang), "region_code": WUTAN}
    )
    assert response.status_code == 200
    assert _stored(app, zhang.id).region_code == XINGFU


def test_edit_without_changes_saves_nothing(app, login, people):
    client = login("fc_supervisor")
    zhang = people["zhang"]
    before = _stored(app, zhang.id)
    response = client.post(
        f"/persons/{zhang.id}/edit",
        data={
            **_form(client, zhang),
            "address": "兴阜路1号",
            "key_populations": ["extreme_poverty", "student"],
            "region_code": XINGFU,
        },
    )
    assert response.status_code == 302
    assert _stored(app, zhang.id).version == before.version
    assert fetch(app, select(PersonChange).where(PersonChange.cause == "edit")) == []


def test_clearing_the_phone(app, login, people):
    client = login("fc_supervisor")
    zhao = people["zhao"]
    response = client.post(
        f"/persons/{zhao.id}/edit",
        data={
            **_form(client, zhao),
            "clear_phone": "y",
            "region_code": XINGFU,
            "key_populations": ["migrant_worker"],
        },
    )
    assert response.status_code == 302
    assert _stored(app, zhao.id).phone is None


def test_detail_shows_files_enrollments_and_labels(app, login, people):
    zhang = people["zhang"]
    with database(app) as session:
        session.add(
            Enrollment(
                id_number=zhang.id_number,
                scheme="employee",
                region_code="320902000000",
                start_date=date(YEAR - 5, 1, 1),
                status="suspended",
            )
        )
    html = login("fc_supervisor").get(f"/persons/{zhang.id}").get_data(as_text=True)
    assert "外出务工" in html and "待走访" in html and "拒绝参保" in html  # both years' files
    assert "职工医保" in html and "暂停" in html
    assert "兴阜居委会" in html
    assert "特困人员" in html and "在校学生" in html
