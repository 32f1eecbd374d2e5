"""Insured extracts as they come (issue 17, part 1): the ID number is the key and the name is
optional; a record is kept whatever its insured place (another county, city or province) and
vouched for by the importing region when the place lies outside the batch's scope; batches count
records and persons; the person page shows where a person is insured; a record is seen by users
holding the person or the insured place, nobody else."""

from datetime import date

import pytest
from sqlalchemy import select

from portal.comparisons.models import ComparisonRun
from portal.demo import DemoAccount, seed_accounts
from portal.imports.validation import insured_place, insured_row
from portal.persons.models import Enrollment, Person, PersonFile
from tests.factories import (
    latest_batch,
    make_id,
    run_comparison,
    run_jobs,
    upload,
    upload_kind,
    workbook,
)
from tests.helpers import database, fetch

FUNING = "320923000000"
XINGFU = "320923001001"  # a community of Fucheng street, Funing
TINGHU = "320902000000"  # another county of Yancheng (loaded)
NANJING = "320106000000"  # 南京市鼓楼区: another city (not loaded here)
SHANGHAI = "310115000000"  # 上海市浦东新区: another province (not loaded here)
TODAY = date.today()
HEADER = ["姓名", "证件号码", "险种类型", "参保地", "参保日期", "终止日期", "参保状态"]

# The persons of the register.
HOME = make_id(101, birth="19800101")  # insured in Funing
TING = make_id(102, birth="19810202")  # insured in Tinghu
NAN = make_id(103, birth="19820303")  # insured in Nanjing, named otherwise in the extract
SHA = make_id(104, birth="19830404")  # insured in Shanghai
ENDED = make_id(105, birth="19840505")  # terminated two years ago
PAUSED = make_id(106, birth="19850606")  # suspended employee record
NONE = make_id(107, birth="19860707")  # no record at all
SPACED = make_id(108, birth="19870808")  # named with a full-width space in the extract: same name
PLAIN = [make_id(110 + n, birth="19900101") for n in range(10)]  # insured in Funing
OUTSIDER = make_id(199, birth="19700101", region="341221")  # on no list of Funing
REGISTER = {HOME: "王一", TING: "王二", NAN: "张三", SHA: "王四", ENDED: "王五", PAUSED: "王六"}
REGISTER |= {NONE: "王七", SPACED: "李四"} | {id_: f"赵{n}" for n, id_ in enumerate(PLAIN)}


def register() -> bytes:
    header = ["序号", "姓名", "公民身份号码", "村（社区）代码"]
    rows = [(n, name, id_, XINGFU) for n, (id_, name) in enumerate(REGISTER.items(), 1)]
    return workbook(header, rows)


def extract() -> bytes:
    """The national extract for Funing's register: 姓名 left empty but for two rows."""
    ended = f"{TODAY.year - 2}-12-31"
    rows = [
        (None, HOME, "居民医保", "320923", "2021-01-01", None, "正常"),
        (None, TING, "居民医保", "320902", "2021-01-01", None, "正常"),
        ("李某", NAN, "职工医保", "320106", "2019-07-01", None, "正常"),
        (None, SHA, "职工医保", SHANGHAI, "2020-03-01", None, "正常"),
        (None, ENDED, "居民医保", "320923", f"{TODAY.year - 2}-01-01", ended, "终止"),
        (None, PAUSED, "职工医保", "320902", "2019-07-01", None, "暂停"),
        ("李\u3000四", SPACED, "居民医保", "320923", "2021-01-01", None, "正常"),
        (None, OUTSIDER, "居民医保", "341221", "2021-01-01", None, "正常"),
    ]
    rows += [(None, id_, "居民医保", XINGFU, "2021-01-01", None, "正常") for id_ in PLAIN]
    return workbook(HEADER, rows)


def records(app, id_number=None) -> list[Enrollment]:
    query = select(Enrollment).order_by(Enrollment.id)
    if id_number:
        query = query.where(Enrollment.id_number == id_number)
    return fetch(app, query)


def person(app, id_number) -> Person:
    return fetch(app, select(Person).where(Person.id_number == id_number))[0]


@pytest.fixture
def tinghu_staff(app):
    """A county officer of Tinghu district: holds the insured place 320902, none of Funing."""
    with database(app):
        seed_accounts([DemoAccount("th_staff", "亭湖区经办", "county_staff", TINGHU)])
    return "th_staff"


# --- validation --------------------------------------------------------------------------------


def test_insured_places_anywhere_in_the_country_but_only_real_looking_codes():
    assert insured_place("320902") == (TINGHU, None)
    assert insured_place("310115") == (SHANGHAI, None)
    assert insured_place("320923001001") == (XINGFU, None)
    assert insured_place("320999") == ("320999000000", None)  # Yancheng's 市本级
    assert insured_place("329900") == ("329900000000", None)  # Jiangsu's 省本级
    for bad in ("3209", "32090", "3209231", "32092300100x", "阜宁县"):
        assert "应为6位或12位区划代码" in insured_place(bad)[1]
    assert "没有代码为99的省份" in insured_place("990101")[1]
    assert "不是有效的区划代码" in insured_place("320023")[1]  # a county under no city
    assert "不是有效的区划代码" in insured_place("320923000001")[1]


def test_an_insured_row_needs_no_name_and_is_vouched_by_the_batch_outside_its_scope(ctx, user):
    from permissions import scope_for

    scope = scope_for(user("fn_staff"), "data.import")
    row = {"id_number": HOME, "scheme": "居民医保", "start_date": "2026-01-01"}

    def check(values):
        return insured_row(values, scope, FUNING, date(2026, 12, 2), "320923")

    plain = check(row)
    assert (plain["name"], plain["region_code"], plain["vouched_prefix"]) == (None, FUNING, None)
    assert check(row | {"name": " 王\u3000一 "})["name"] == "王一"
    assert check(row | {"insured_region": XINGFU})["vouched_prefix"] is None
    for place in ("320902", "320106", "310115"):
        assert check(row | {"insured_region": place})["vouched_prefix"] == "320923"
    assert "应为6位或12位区划代码" in check(row | {"insured_region": "3209"})


# --- importing ---------------------------------------------------------------------------------


def test_an_extract_with_an_empty_name_column_imports_every_valid_row(app, login):
    client = login("fn_staff")
    upload_kind(client, "insured", extract())
    run_jobs(app)
    batch = latest_batch(app)
    assert batch.state == "succeeded", batch.message
    assert (batch.rows_read, batch.created, batch.rejected) == (18, 18, 0), batch.message
    assert records(app, HOME)[0].name is None
    assert records(app, NAN)[0].name == "李某"  # kept, though the register will say 张三
    assert records(app, SPACED)[0].name == "李四"  # stored normalised
    vouched = {r.id_number: (r.region_code, r.vouched_prefix) for r in records(app)}
    assert vouched[HOME] == (FUNING, None)
    assert vouched[TING] == (TINGHU, "320923")  # another county
    assert vouched[NAN] == (NANJING, "320923")  # another city
    assert vouched[SHA] == (SHANGHAI, "320923")  # another province
    assert vouched[OUTSIDER] == ("341221000000", "320923")
    assert vouched[PLAIN[0]] == (XINGFU, None)
    # Nobody of Funing's population is on file yet: every record waits for the register.
    assert batch.matched == 0 and "另有 18 条记录暂未对应本区划名册中的人员" in batch.message


def test_an_extract_without_a_name_column_at_all_imports_too(app, login):
    header = ["公民身份号码", "险种", "参保地代码"]
    rows = [(HOME, "居民医保", "320923"), (TING, "职工医保", "320902")]
    upload_kind(login("fn_staff"), "insured", workbook(header, rows))
    run_jobs(app)
    batch = latest_batch(app)
    assert (batch.state, batch.created, batch.rejected) == ("succeeded", 2, 0), batch.message
    assert [r.name for r in records(app)] == [None, None]


def test_a_lapsed_list_without_a_name_column_imports_too(app, login):
    header = ["身份证号", "停保日期", "参保地"]
    upload_kind(login("fn_staff"), "lapsed", workbook(header, [(HOME, "2025-01-31", "320902")]))
    run_jobs(app)
    batch = latest_batch(app)
    assert (batch.state, batch.rejected) == ("succeeded", 0), batch.message


def test_the_batch_counts_records_and_the_persons_of_the_region_they_name(app, login):
    client = login("fn_staff")
    upload(client, register())
    run_jobs(app)
    upload_kind(client, "insured", extract())
    run_jobs(app)
    batch = latest_batch(app)
    # 17 persons of the register named (all but NONE, who has no record), the outsider apart;
    # one name differs from the register's (李某 for 张三), the spaced one does not.
    assert (batch.created, batch.updated, batch.unchanged, batch.matched) == (18, 0, 0, 17)
    assert "新增参保记录 18 条" in batch.message
    assert "匹配本区划人员 17 人（其中姓名与名册不一致 1 人）" in batch.message
    assert "另有 1 条记录暂未对应" in batch.message
    page = client.get(f"/imports/{batch.id}").get_data(as_text=True)
    assert "新增参保记录" in page and "18 条" in page and "匹配本区划人员" in page
    assert "17 人" in page and "新增</dt><dd>18 人" not in page
    # A refreshed extract: one record ended, the rest as before.
    rows = [(None, HOME, "居民医保", "320923", "2021-01-01", "2026-06-30", "终止")]
    rows += [(None, id_, "居民医保", XINGFU, "2021-01-01", None, "正常") for id_ in PLAIN]
    upload_kind(client, "insured", workbook(HEADER, rows), name="参保人员-更新.xlsx")
    run_jobs(app)
    again = latest_batch(app)
    assert (again.created, again.updated, again.unchanged, again.matched) == (0, 1, 10, 11)
    assert "更新 1 条，未变 10 条" in again.message and "另有" not in again.message


def test_reimported_records_keep_or_change_their_voucher(app, login, tinghu_staff):
    """NULL wins over a prefix: once the insured place's own office has imported a record it
    stays its own; between two vouching regions the newer import's prefix is kept."""
    ting = [(None, TING, "居民医保", "320902", "2021-01-01", None, "正常")]
    sha = [(None, SHA, "职工医保", SHANGHAI, "2020-03-01", None, "正常")]
    funing, tinghu = login("fn_staff"), login(tinghu_staff)

    def imported(client, rows, region):
        upload_kind(client, "insured", workbook(HEADER, rows), region=region)
        run_jobs(app)
        batch = latest_batch(app)
        assert batch.state == "succeeded", batch.message
        return (batch.created, batch.updated, batch.unchanged)

    def voucher(id_number):
        (record,) = records(app, id_number)
        return record.vouched_prefix

    assert imported(funing, ting, FUNING) == (1, 0, 0) and voucher(TING) == "320923"
    assert imported(tinghu, ting, TINGHU) == (0, 1, 0) and voucher(TING) is None
    assert imported(funing, ting, FUNING) == (0, 0, 1) and voucher(TING) is None
    assert imported(funing, sha, FUNING) == (1, 0, 0) and voucher(SHA) == "320923"
    assert imported(tinghu, sha, TINGHU) == (0, 1, 0) and voucher(SHA) == "320902"
    assert imported(funing, sha, FUNING) == (0, 1, 0) and voucher(SHA) == "320923"
    # A name given once stays when a later extract gives none; a new name replaces it.
    named = [("王二", *ting[0][1:])]
    assert imported(funing, named, FUNING) == (0, 1, 0)
    assert imported(funing, ting, FUNING) == (0, 0, 1) and records(app, TING)[0].name == "王二"


def test_the_voucher_is_the_batch_region_not_the_users_whole_scope(app, login):
    """A city officer importing for the city vouches nothing inside it; importing for one of
    its counties, a record insured in another county is vouched for by that county."""
    client = login("yc_staff")
    rows = [
        (None, TING, "居民医保", "320902", "2021-01-01", None, "正常"),
        (None, NAN, "职工医保", "320106", "2019-07-01", None, "正常"),
    ]
    upload_kind(client, "insured", workbook(HEADER, rows), region="320900000000")
    run_jobs(app)
    assert [r.vouched_prefix for r in records(app)] == [None, "3209"]
    upload_kind(client, "insured", workbook(HEADER, rows[:1] + rows[:0]), region=FUNING)
    run_jobs(app)
    assert records(app, TING)[0].vouched_prefix is None  # NULL wins over the county's prefix


# --- the person page and who sees a record ----------------------------------------------------


def _imported(app, login, order):
    client = login("fn_staff")
    lists = [("household", register()), ("insured", extract())]
    for kind, content in lists if order == "register first" else reversed(lists):
        upload_kind(client, kind, content, name=f"{kind}.xlsx")
        run_jobs(app)
        assert latest_batch(app).state == "succeeded", latest_batch(app).message
    return client


def test_the_person_page_shows_the_insured_place_and_a_differing_name(app, login):
    client = _imported(app, login, "register first")
    html = client.get(f"/persons/{person(app, TING).id}").get_data(as_text=True)
    assert "亭湖区" in html and TINGHU in html and "异地" in html
    html = client.get(f"/persons/{person(app, SHA).id}").get_data(as_text=True)
    assert "上海市" in html and SHANGHAI in html and "异地" in html
    html = client.get(f"/persons/{person(app, NAN).id}").get_data(as_text=True)
    assert "李某" in html and "身份信息不一致" in html and "江苏省" in html
    html = client.get(f"/persons/{person(app, HOME).id}").get_data(as_text=True)
    assert "阜宁县" in html and "异地" not in html and "身份信息不一致" not in html
    html = client.get(f"/persons/{person(app, SPACED).id}").get_data(as_text=True)
    assert "身份信息不一致" not in html and "与名册一致" in html


def test_the_person_page_shows_an_exclusion_and_a_carried_file(app, login):
    client = _imported(app, login, "register first")
    found = person(app, NONE)
    with database(app) as session:
        session.get(Person, found.id).excluded_reason = "deceased"
        session.add(
            PersonFile(
                person_id=found.id,
                region_code=XINGFU,
                year=2027,
                file_number=f"2027-{XINGFU}-{found.id}",
                file_type="uninsured",
                state="assigned",
                carried_from_year=2026,
            )
        )
    html = client.get(f"/persons/{found.id}").get_data(as_text=True)
    assert "不再计入" in html and "死亡" in html
    assert "由2026年度结转" in html


def test_a_record_is_seen_by_who_holds_the_person_or_the_insured_place(app, login, tinghu_staff):
    from portal.persons.queries import visible_enrollments

    _imported(app, login, "register first")
    ting = person(app, TING)
    # Tinghu holds the insured place, not the person: no person page, but the record.
    assert login(tinghu_staff).get(f"/persons/{ting.id}").status_code == 404
    assert login("wx_grid").get(f"/persons/{ting.id}").status_code == 404

    def seen(username):
        with app.test_request_context():
            from portal.accounts.models import User
            from portal.extensions import db

            actor = db.session.scalar(select(User).where(User.username == username))
            rows = db.session.scalars(visible_enrollments(actor)).all()
            return {(r.id_number, r.region_code) for r in rows}

    everything = {(r.id_number, r.region_code) for r in records(app)}
    funing_persons = everything - {(OUTSIDER, "341221000000")}
    assert seen("fn_staff") == funing_persons
    assert seen("yc_staff") == funing_persons  # the city holds Funing's persons too
    assert seen(tinghu_staff) == {(TING, TINGHU), (PAUSED, TINGHU)}
    assert seen("wx_grid") == set()  # neither the persons nor the places
    assert seen("fc_grid1") == set()  # a grid worker sees assigned persons only: none yet
    assert seen("js_staff") == funing_persons  # Shanghai's record too: the person is Funing's


# --- end to end: the register and the extract in either order ---------------------------------


@pytest.mark.parametrize("order", ["register first", "extract first"])
def test_exactly_the_uninsured_get_files_whatever_the_order(app, login, order):
    client = _imported(app, login, order)
    assert run_comparison(client, app).status_code == 302
    (run,) = fetch(app, select(ComparisonRun))
    assert run.state == "succeeded", run.message
    filed = {
        fetch(app, select(Person.id_number).where(Person.id == f.person_id))[0]
        for f in fetch(app, select(PersonFile))
    }
    assert filed == {ENDED, PAUSED, NONE}
    assert (run.persons, run.insured, run.opened) == (18, 15, 3)
    assert run.mismatched == 1  # 张三, named 李某 by the extract
    # Insured elsewhere: insured, with their place.
    for id_, place in ((TING, TINGHU), (NAN, NANJING), (SHA, SHANGHAI), (HOME, FUNING)):
        found = person(app, id_)
        assert (found.insured_status, found.insured_region_code) == ("insured", place)
    html = client.get(f"/persons/{person(app, SHA).id}").get_data(as_text=True)
    assert "上海市" in html and "异地" in html


# --- the keep-rules' columns (issue 20, part 1) -----------------------------------------------


def test_an_insured_row_reads_the_keep_rules_facts(ctx, user):
    from permissions import scope_for

    scope = scope_for(user("fn_staff"), "data.import")
    row = {"id_number": HOME, "scheme": "职工医保", "start_date": "2026-01-01"}
    names = {"亭湖区": TINGHU}.get

    def check(values):
        return insured_row(row | values, scope, FUNING, date(2026, 12, 2), "320923", names)

    plain = check({})
    facts = ("category", "employer", "employer_region_code", "payment_status", "paid_until",
             "continuous_months", "benefits")  # fmt: skip
    assert all(plain[f] is None for f in facts)
    given = check(
        {
            "category": "在职职工",
            "employer": "某某有限公司",
            "employer_region": "320902",
            "payment_status": "已缴费",
            "paid_until": "2026-12-31",
            "continuous_months": "2年3个月",
            "benefits": "享受",
        }
    )
    assert [given[f] for f in facts] == [
        "employed", "某某有限公司", TINGHU, "paid", date(2026, 12, 31), 27, True,
    ]  # fmt: skip
    words = (("退休", "retired"), ("非全日制", "flexible"), ("在校学生", "student"),
             ("城乡居民", "resident"), ("其他", "other"), ("大学生", "student"))  # fmt: skip
    for word, code in words:
        assert check({"category": word})["category"] == code
    for word, code in (("欠费", "unpaid"), ("停缴", "stopped"), ("未缴费", "unpaid")):
        assert check({"payment_status": word})["payment_status"] == code
    assert check({"benefits": "否"})["benefits"] is False
    assert check({"benefits": "未享受"})["benefits"] is False
    # Words nobody can read: stored as unknown, the insured record is kept.
    for column in ("category", "payment_status", "benefits"):
        fact = {"category": "category", "payment_status": "payment_status"}.get(column, column)
        assert check({column: "火星人"})[fact] is None
    # A place by name (one loaded region of that name), or unknown; a bad code is refused.
    assert check({"employer_region": "亭湖区"})["employer_region_code"] == TINGHU
    assert check({"employer_region": "某地"})["employer_region_code"] is None
    assert "就业地/学籍地「3209」" in check({"employer_region": "3209"})
    # Dates and numbers: the last paid month stands in for the paid-until date; typos refused.
    assert check({"last_paid_month": "202611"})["paid_until"] == date(2026, 11, 30)
    assert check({"paid_until": "2026-10"})["paid_until"] == date(2026, 10, 31)
    assert "缴费截止日期「明年」无法识别" in check({"paid_until": "明年"})
    assert "连续参保月数「很久」无法识别" in check({"continuous_months": "很久"})
    assert "连续参保月数「-3」" in check({"continuous_months": "-3"})
    assert check({"continuous_months": 24.0})["continuous_months"] == 24


RULE_HEADER = ["待遇享受状态", "身份证号", "缴费状态", "就业地", "险种", "连续参保月数",
               "人员类别", "参保地", "单位名称", "参保日期", "缴费截止日期"]  # fmt: skip


def test_the_keep_rules_columns_are_imported_in_any_order_and_kept_when_missing(app, login):
    client = login("fn_staff")
    rows = [
        ("是", HOME, "正常缴费", "320902", "职工医保", 30, "在职", "320902", "某公司",
         "2020-01-01", "2026-12-31"),
        (None, TING, None, None, "居民医保", None, None, "320923", None, "2026-01-01", None),
        ("不知道", NAN, "火星", "亭湖区", "居民医保", None, "外星人", "320923", None,
         "2026-01-01", None),
        ("否", SHA, None, None, "居民医保", "很久", "学生", "320923", None, "2026-01-01", None),
    ]  # fmt: skip
    upload_kind(client, "insured", workbook(RULE_HEADER, rows))
    run_jobs(app)
    batch = latest_batch(app)
    assert (batch.state, batch.created, batch.rejected) == ("succeeded", 3, 1), batch.message

    def facts(id_number):
        (r,) = records(app, id_number)
        return (r.category, r.employer, r.employer_region_code, r.payment_status,
                r.paid_until, r.continuous_months, r.benefits)  # fmt: skip

    assert facts(HOME) == ("employed", "某公司", TINGHU, "paid", date(2026, 12, 31), 30, True)
    assert facts(TING) == (None,) * 7
    assert facts(NAN) == (None, None, TINGHU, None, None, None, None)  # unreadable words: NULL
    assert records(app, SHA) == []  # 连续参保月数 unreadable: the row is refused
    # A later extract without these columns keeps what the first one said; a new value wins.
    header = ["身份证号", "险种", "参保地", "参保日期", "享受待遇"]
    again = [(HOME, "职工医保", "320902", "2020-01-01", "否")]
    upload_kind(client, "insured", workbook(header, again), name="参保人员-更新.xlsx")
    run_jobs(app)
    assert (latest_batch(app).updated, latest_batch(app).unchanged) == (1, 0)
    assert facts(HOME) == ("employed", "某公司", TINGHU, "paid", date(2026, 12, 31), 30, False)
    upload_kind(client, "insured", workbook(header, again), name="参保人员-再次.xlsx")
    run_jobs(app)
    assert (latest_batch(app).updated, latest_batch(app).unchanged) == (0, 1)
