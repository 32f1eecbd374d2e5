"""Sample workbooks for the demo: synthetic people of Funing county, as offices would send them.

The household register has a title row, a few rows with the usual mistakes (an ID typed as a
number, a wrong check digit, a missing name, a bad phone, a duplicate, a community outside
Funing) so that the error workbook can be tried; the insured extract covers most but not all of
the people, so that the comparison opens files for the rest. The resident list marks a quarter
of the registered people as residents (some living in another community than their register's)
and adds people registered elsewhere who live in Funing; the lapsed list stops some of the
employees, half of them long enough ago for the comparison to open a lapsed file. Both carry a
few bad rows too.
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


def write_samples(directory: Path, people: int = 1200) -> list[Path]:
    """Write the sample workbooks (same content every time, given the month); returns their paths:
    household register, insured extract, resident list, lapsed list."""
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
    sheet.append(["姓名", "证件号码", "险种类型", "参保地", "参保日期", "参保状态"])
    for index, (name, id_number, *_rest) in enumerate(rows):
        if index % 5 == 0:
            continue  # one in five is not insured: the comparison opens a file for them
        if is_employee(index):
            scheme, since = "职工基本医疗保险", EMPLOYEE_SINCE
        else:
            scheme, since = "城乡居民基本医疗保险", f"{date.today().year}-01-01"
        sheet.append([name, id_number, scheme, "320923", since, "正常"])
    paths = [directory / HOUSEHOLD, directory / INSURED, directory / RESIDENT, directory / LAPSED]
    household.save(paths[0])
    insured.save(paths[1])
    resident_workbook(rows).save(paths[2])
    lapsed_workbook(rows, date.today()).save(paths[3])
    return paths


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
    in the register; a month in the future, a month not understood, a place outside Funing."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "断缴人员"
    sheet.append(["序号", "姓名", "身份证号码", "单位名称", "险种类型", "参保地", "末次缴费年月"])
    long_ago, last_month = (f"{months_before(today, n):%Y-%m}" for n in (6, 1))
    employees = [row for index, row in enumerate(rows) if is_employee(index)]
    listed = [_lapse(row, long_ago if n % 2 else last_month) for n, row in enumerate(employees, 1)]
    listed += [_lapse(row, long_ago) for row in person_rows(1, ELSEWHERE[:1], seed=2028)]
    mistakes = [
        _lapse(rows[1], f"{months_before(today, -1):%Y-%m}"),
        _lapse(rows[2], "去年"),
        _lapse(rows[3], long_ago, place="320902"),
    ]
    for n, row in enumerate(listed + mistakes, 1):
        sheet.append([n, *row])
    return workbook


def _lapse(person: tuple, last_paid: str, place: str = "320923") -> list:
    name, id_number, *_rest = person
    return [name, id_number, "阜宁县某制造有限公司", "职工医保", place, last_paid]
