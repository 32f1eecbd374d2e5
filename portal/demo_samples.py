"""Sample workbooks for the demo: synthetic people of Funing county, as offices would send them.

The household register has a title row, a few rows with the usual mistakes (an ID typed as a
number, a wrong check digit, a missing name, a bad phone, a duplicate, a community outside
Funing) so that the error workbook can be tried; the insured extract covers most but not all of
the people, so that the comparison opens files for the rest.
"""

from datetime import date
from pathlib import Path

from openpyxl import Workbook

from portal.synthetic import person_rows

HOUSEHOLD = "阜宁县户籍人口-示例.xlsx"
INSURED = "阜宁县参保人员-示例.xlsx"


def _funing_communities() -> list[str]:
    data = Path(__file__).parent / "regions/data/3209/villages.csv"
    codes = [line.split(",")[0] for line in data.read_text(encoding="utf-8").splitlines()[1:]]
    # Fucheng and Wutan streets (the demo accounts' streets) hold most of the sample people.
    return [c for c in codes if c.startswith(("320923001", "320923002"))] * 4 + [
        c for c in codes if c.startswith("320923")
    ]


def write_samples(directory: Path, people: int = 1200) -> list[Path]:
    """Write the two sample workbooks (same content every time); returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = list(person_rows(people, _funing_communities(), seed=2026))
    household = Workbook()
    sheet = household.active
    sheet.title = "户籍人口"
    sheet.append(["阜宁县户籍人口花名册（演示用合成数据）"])
    sheet.merge_cells("A1:G1")
    sheet.append(["序号", "姓名", "公民身份号码", "性别", "联系电话", "村（社区）代码", "现住址"])
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
        scheme = "职工基本医疗保险" if index % 7 == 0 else "城乡居民基本医疗保险"
        sheet.append([name, id_number, scheme, "320923", f"{date.today().year}-01-01", "正常"])
    paths = [directory / HOUSEHOLD, directory / INSURED]
    household.save(paths[0])
    insured.save(paths[1])
    return paths
