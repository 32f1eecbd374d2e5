"""Sample workbooks for the demo: synthetic people of Funing county, as offices would send them.

The household register has a title row, a few rows with the usual mistakes (an ID typed as a
number, a wrong check digit, a missing name, a bad phone, a duplicate, a community outside
Funing) so that the error workbook can be tried; the insured extract covers most but not all of
the people, so that the comparison opens files for the rest, and gives a couple of names that
differ from the register (身份信息不一致: kept, and counted). A second insured extract comes as the
national database exports it, with an empty 姓名 column: people of the register insured in
another county (Tinghu), another city (Nanjing) or another province (Shanghai), who are insured;
terminated and suspended records, which insure nobody; old records of people insured here now;
and people registered elsewhere who live in Funing, insured at home (they count once the resident
list places them in Funing). The resident list marks a quarter
of the registered people as residents (some living in another community than their register's)
and adds people registered elsewhere who live in Funing; the lapsed list stops some of the
employees, half of them long enough ago for the comparison to open a lapsed file, and one
Funing resident whose employer in Tinghu stopped paying. Both carry a few bad rows too. The
e-credential activation list (医保电子凭证激活名单) names some of the insured who activated their
credential, with a person not in the file and two bad rows.

The insured extract also holds a handful of people insured twice (重复参保), with the columns the
duplicate keep-rules read (人员类别, 单位名称, 就业地/学籍地, 连续参保月数, 享受待遇; empty for
everyone else): one also insured as a resident in Binhai county (滨海县, the neighbouring county:
both counties' worklists hold the case), one also insured as an employee for years (across
schemes: the employee record is kept), and a student also insured at the school's place in
Tinghu district (the school's record is kept). The comparison's detection finds them.
"""

from datetime import date
from pathlib import Path

from openpyxl import Workbook

from portal.comparisons.operations import months_before
from portal.synthetic import person_rows

HOUSEHOLD = "阜宁县户籍人口-示例.xlsx"
INSURED = "阜宁县参保人员-示例.xlsx"
RESIDENT = "阜宁县常住人口-示例.xlsx"
LAPSED = "阜宁县断缴人员-示例.xlsx"
ELSEWHERE_INSURED = "阜宁县参保人员-无姓名异地-示例.xlsx"
ACTIVATION = "阜宁县医保电子凭证激活名单-示例.xlsx"
INSURED_HEADER = ["姓名", "证件号码", "险种类型", "参保地", "参保日期", "终止日期", "参保状态"]
# What the duplicate keep-rules read (the first insured extract only; empty but for the people
# insured twice).
RULE_HEADER = ["人员类别", "单位名称", "就业地/学籍地", "连续参保月数", "享受待遇"]
RESIDENT_SCHEME, EMPLOYEE_SCHEME = "城乡居民基本医疗保险", "职工基本医疗保险"
NEIGHBOUR_PLACE = "320922"  # 滨海县
SCHOOL_PLACE, SCHOOL = "320902", "盐城某学院"  # 亭湖区
EMPLOYER = "阜宁县某制造有限公司"
# Insured places outside Funing: another county of Yancheng (亭湖区), a district of another city
# (南京市鼓楼区) and of another province (上海市浦东新区); the last two are not loaded here.
INSURED_ELSEWHERE = ["320902", "320106", "310115"]
PERSON_HEADER = ["序号", "姓名", "公民身份号码", "性别", "联系电话", "村（社区）代码", "现住址"]
EMPLOYEE_SINCE = "2019-07-01"
# Where the residents registered elsewhere come from: a county of Anhui, and Tinghu district.
ELSEWHERE = ["341221000000", "320902000000"]


def _funing_communities() -> list[str]:
    data = Path(__file__).parent / "regions/data/3209/villages.csv"
    codes = [line.split(",")[0] for line in data.read_text(encoding="utf-8").splitlines()[1:]]
    # Fucheng and Wutan streets (the demo accounts' streets) hold most of the sample people.
    return [c for c in codes if c.startswith(("320923001", "320923002"))] * 4 + [
        c for c in codes if c.startswith("320923")
    ]


def is_employee(index: int) -> bool:
    """Whether the person at this index of the register is in the insured sample as an employee."""
    return index % 5 != 0 and index % 7 == 0


def insured_elsewhere(index: int) -> bool:
    """Whether the person at this index of the register, not in the first insured extract, is
    insured outside Funing (in the extract without names)."""
    return index % 20 == 5


def twice(rows: list[tuple], today: date) -> dict[int, str]:
    """The people insured twice, by register index: "neighbour" (an adult resident also insured
    in Binhai), "cross" (aged 25 to 55, also an employee) and "student" (aged 18 to 22, also
    insured at the school's place): the first fitting residents of the insured sample (by the
    ID number's birth year) whose rows nothing else uses."""
    wanted = {"neighbour": (18, 90), "cross": (25, 55), "student": (18, 22)}
    chosen: dict[int, str] = {}
    for index, (_name, id_number, *_rest) in enumerate(rows):
        if index % 5 == 0 or is_employee(index) or index % 500 in (1, 2, 3) or index < 10:
            continue
        if index % 20 in (5, 15) or index % 40 == 1 or index % 4 == 1:
            continue  # elsewhere, resident-list and lapsed samples use these
        age = today.year - int(id_number[6:10])
        role = next((r for r, (lo, hi) in wanted.items() if lo <= age <= hi), None)
        if role is not None:
            chosen[index] = role
            del wanted[role]
        if not wanted:
            break
    return chosen


def insured_twice(role: str | None, name: str, id_number: str, today: date) -> list[list]:
    """The second record of a person insured twice (重复参保), after their record in Funing."""
    year_start = f"{today.year}-01-01"
    if role == "neighbour":  # also a resident of Binhai: keep the place of residence
        return [
            [name, id_number, RESIDENT_SCHEME, NEIGHBOUR_PLACE, year_start, None, "正常"]
            + ["城乡居民"]
        ]
    if role == "cross":  # an employee for years as well: the employee record is kept
        since = date.fromisoformat(EMPLOYEE_SINCE)
        months = (today.year - since.year) * 12 + today.month - since.month
        return [
            [name, id_number, EMPLOYEE_SCHEME, "320923", EMPLOYEE_SINCE, None, "正常"]
            + ["在职", EMPLOYER, "320923", months, "是"]
        ]
    if role == "student":  # also insured at the school's place: the school's record is kept
        return [
            [name, id_number, RESIDENT_SCHEME, SCHOOL_PLACE, f"{today.year - 1}-09-01", None]
            + ["正常", "学生", SCHOOL, SCHOOL_PLACE, None, "是"]
        ]
    return []


def write_samples(directory: Path, people: int = 1200) -> list[Path]:
    """Write the sample workbooks (same content every time, given the month); returns their paths:
    household register, insured extract, resident list, lapsed list, insured extract without
    names, e-credential activation list."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = list(person_rows(people, _funing_communities(), seed=2026))
    household = Workbook()
    sheet = household.active
    sheet.title = "户籍人口"
    sheet.append(["阜宁县户籍人口花名册（演示用合成数据）"])
    sheet.merge_cells("A1:G1")
    sheet.append(PERSON_HEADER)
    for n, row in enumerate(rows, 1):
        sheet.append([n, *row])
    name, id_number, sex, phone, community, address = rows[0]
    numeric = next(r for r in rows[1:] if r[1][-1] != "X")  # Excel cannot hold an X as a number
    mistakes = [
        ("数字身份证", float(numeric[1]), numeric[2], "", numeric[4], ""),
        (
            "校验位错",
            rows[2][1][:17] + ("0" if rows[2][1][17] != "0" else "1"),
            "",
            "",
            community,
            "",
        ),
        (None, rows[3][1], "", "", community, ""),
        ("电话错", rows[4][1], "", "12345", community, ""),
        (name, id_number, sex, phone, community, address),
        ("外县", rows[5][1], "", "", "320902001001", ""),
    ]
    for n, row in enumerate(mistakes, len(rows) + 1):
        sheet.append([n, *row])
    sheet.append(["合计", f"{len(rows) + len(mistakes)} 人"])
    insured = Workbook()
    sheet = insured.active
    sheet.title = "参保人员"
    sheet.append(INSURED_HEADER + RULE_HEADER)
    roles = twice(rows, date.today())
    for index, (name, id_number, *_rest) in enumerate(rows):
        if index % 5 == 0:
            continue  # one in five is not insured here: the comparison opens a file for most
        if is_employee(index):
            scheme, since = EMPLOYEE_SCHEME, EMPLOYEE_SINCE
        else:
            scheme, since = RESIDENT_SCHEME, f"{date.today().year}-01-01"
        if index % 500 in (1, 2):  # a name that differs from the register's: kept, counted
            name = name[:-1] + ("华" if name[-1] != "华" else "明")
        elif index % 500 == 3:  # spaces inside a name: the same name
            name = f"{name[0]}\u3000{name[1:]}"
        facts = ["学生"] if roles.get(index) == "student" else []
        sheet.append([name, id_number, scheme, "320923", since, None, "正常", *facts])
        for row in insured_twice(roles.get(index), name, id_number, date.today()):
            sheet.append(row)
    paths = [
        directory / HOUSEHOLD,
        directory / INSURED,
        directory / RESIDENT,
        directory / LAPSED,
        directory / ELSEWHERE_INSURED,
        directory / ACTIVATION,
    ]
    household.save(paths[0])
    insured.save(paths[1])
    resident_workbook(rows).save(paths[2])
    lapsed_workbook(rows, date.today()).save(paths[3])
    elsewhere_workbook(rows, date.today()).save(paths[4])
    activation_workbook(rows, date.today()).save(paths[5])
    return paths


def activation_workbook(rows: list[tuple], today: date) -> Workbook:
    """Two in three of the insured sample activated their e-credential (the platform's extract:
    ID number first, a name, the day); one person not in the register (sent back: not in the
    file), an ID number with a wrong check character and an activation day in the future."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "激活名单"
    sheet.append(["身份证号码", "姓名", "激活日期"])
    day = today.replace(day=1)
    for index, (name, id_number, *_rest) in enumerate(rows):
        if index % 5 != 0 and index % 3 != 0:
            sheet.append([id_number, name, day.isoformat()])
    stranger = next(iter(person_rows(1, ELSEWHERE[:1], seed=2029)))
    sheet.append([stranger[1], stranger[0], day.isoformat()])
    wrong = rows[6][1][:17] + ("0" if rows[6][1][17] != "0" else "1")
    sheet.append([wrong, rows[6][0], day.isoformat()])
    sheet.append([rows[9][1], rows[9][0], f"{today.year + 1}-01-01"])
    return workbook


def elsewhere_workbook(rows: list[tuple], today: date) -> Workbook:
    """The insured extract as the national database sends it, 姓名 left empty: one in twenty of
    the register insured in Tinghu, Nanjing or Shanghai (insured); as many with a terminated or
    suspended record only (not insured); one in forty of the insured with an old terminated
    record in Nanjing; two people registered elsewhere who live in Funing (the resident list),
    insured at home."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "参保人员"
    sheet.append(INSURED_HEADER)
    year = today.year
    for index, (_name, id_number, *_rest) in enumerate(rows):
        round_ = index // 20
        if insured_elsewhere(index):
            place = INSURED_ELSEWHERE[round_ % len(INSURED_ELSEWHERE)]
            scheme = "城乡居民基本医疗保险" if place == "320902" else "职工基本医疗保险"
            sheet.append([None, id_number, scheme, place, "2021-03-01", None, "正常"])
        elif index % 20 == 15 and round_ % 2:  # left the resident scheme two years ago
            ended = f"{year - 2}-12-31"
            row = ["城乡居民基本医疗保险", "320923", f"{year - 2}-01-01", ended, "终止"]
            sheet.append([None, id_number, *row])
        elif index % 20 == 15:  # an employee record suspended (暂停) at a firm in Tinghu
            row = ["职工基本医疗保险", "320902", "2019-07-01", None, "暂停"]
            sheet.append([None, id_number, *row])
        elif index % 40 == 1:  # worked in Nanjing once; insured here now
            row = ["职工基本医疗保险", "320106", "2016-01-01", "2020-12-31", "终止"]
            sheet.append([None, id_number, *row])
    for _name, id_number, _sex, _phone, community, _address in person_rows(2, ELSEWHERE, 2027):
        since = f"{year}-01-01"
        sheet.append([None, id_number, "城乡居民基本医疗保险", community[:6], since, None, "正常"])
    return workbook


def resident_workbook(rows: list[tuple]) -> Workbook:
    """A quarter of the register (one in two of them living in another community) and one in
    twenty as many people registered elsewhere; a wrong check digit, a community outside Funing
    and a duplicate."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "常住人口"
    sheet.append(["阜宁县常住人口名册（演示用合成数据）"])
    sheet.merge_cells("A1:G1")
    sheet.append(PERSON_HEADER)
    listed = [list(row) for index, row in enumerate(rows) if index % 4 == 1]
    for index, row in enumerate(listed):
        if index % 2:
            row[4] = rows[(index * 7) % len(rows)][4]  # lives in another community
    communities = [row[4] for row in rows]
    for index, row in enumerate(person_rows(max(len(rows) // 20, 3), ELSEWHERE, seed=2027)):
        listed.append([*row[:4], communities[index % len(communities)], row[5]])
    outsider = listed[-1]
    mistakes = [
        ["校验位错", outsider[1][:17] + ("0" if outsider[1][17] != "0" else "1"), "", ""]
        + outsider[4:],
        ["外县居住", listed[0][1], "", "", "320902001001", ""],
        listed[1],
    ]
    for n, row in enumerate(listed + mistakes, 1):
        sheet.append([n, *row])
    return workbook


def lapsed_workbook(rows: list[tuple], today: date) -> Workbook:
    """The employees of the insured sample: one in two paid last 6 months ago (a lapsed file
    at the next comparison), the others last month (still in the 3-month grace); one person not
    in the register; one whose employer in Tinghu stopped paying; a month in the future, a month
    not understood, an insured place that is no region code."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "断缴人员"
    sheet.append(["序号", "姓名", "身份证号码", "单位名称", "险种类型", "参保地", "末次缴费年月"])
    long_ago, last_month = (f"{months_before(today, n):%Y-%m}" for n in (6, 1))
    employees = [row for index, row in enumerate(rows) if is_employee(index)]
    listed = [_lapse(row, long_ago if n % 2 else last_month) for n, row in enumerate(employees, 1)]
    listed += [_lapse(row, long_ago) for row in person_rows(1, ELSEWHERE[:1], seed=2028)]
    # A Funing resident (never insured here) whose employer in Tinghu stopped paying.
    listed.append(_lapse(rows[10], long_ago, place="320902", employer="亭湖区某物流有限公司"))
    mistakes = [
        _lapse(rows[1], f"{months_before(today, -1):%Y-%m}"),
        _lapse(rows[2], "去年"),
        _lapse(rows[3], long_ago, place="3209"),
    ]
    for n, row in enumerate(listed + mistakes, 1):
        sheet.append([n, *row])
    return workbook


def _lapse(
    person: tuple, last_paid: str, place: str = "320923", employer: str = "阜宁县某制造有限公司"
) -> list:
    name, id_number, *_rest = person
    return [name, id_number, employer, "职工医保", place, last_paid]
