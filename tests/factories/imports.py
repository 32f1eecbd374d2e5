"""Import workbooks and uploads: the household workbook with every trap of a real office list,
extracts and lists built from rows, the upload form, running the queued jobs."""

import io
import os
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import select

from portal.imports.models import ImportBatch
from portal.jobs import queue
from tests.factories.ids import make_id
from tests.helpers import fetch

GOOD = [make_id(11, birth="19800101"), make_id(22, birth="19900215"), make_id(33, birth="20010310")]
LOWER_X = next(i for i in (make_id(n, birth="19750505") for n in range(1, 200)) if i.endswith("X"))
FULLWIDTH = make_id(44, birth="19660606")
SPACED = make_id(55, birth="19880808")
BAD_CHECK = GOOD[0][:17] + ("1" if GOOD[0][17] != "1" else "2")
BAD_DATE = make_id(123, birth="19990231")  # 31 February

EXPECTED_REJECTIONS = [
    (7, "数字"),
    (12, "校验位错误"),
    (13, "不是有效日期"),
    (14, "与本文件第5行是同一人"),
    (15, "不在您的管辖范围内"),
    (16, "缺少姓名"),
    (17, "不是有效的手机号"),
]


def workbook(header, rows, *, title=None) -> bytes:
    """An .xlsx of one sheet: an optional title row, the header, the rows."""
    wb = Workbook()
    if title:
        wb.active.append([title])
    wb.active.append(list(header))
    for row in rows:
        wb.active.append(list(row))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def household_workbook() -> bytes:
    """A workbook with every trap of a real office list."""
    wb = Workbook()
    ws = wb.active
    ws.append(["阜宁县户籍人口花名册"])
    ws.merge_cells("A1:F1")
    ws.append(["填报单位：阜城街道", None, None, None, "单位：人"])
    ws.append([])
    ws.append(["序号", "姓名", "公民身份号码", "联系电话", "村（社区）代码", "现住址"])  # row 4
    rows = [
        (1, "张一", GOOD[0], "13812345678", "320923001001", "兴阜1号"),  # 5 ok
        (2, "张二", GOOD[1], None, "新盛居委会", None),  # 6 ok (community by name)
        (3, "张三", float(GOOD[2]), None, "320923001001", None),  # 7 numeric ID
        (4, "李四", LOWER_X.lower(), None, "320923001001", None),  # 8 ok lowercase x
        (
            5,
            "王五",
            FULLWIDTH.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
            None,
            "320923001001",
            None,
        ),  # 9 ok full-width
        (
            6,
            "赵六",
            " ".join([SPACED[:6], SPACED[6:14], SPACED[14:]]),
            None,
            "320923001001",
            None,
        ),  # 10 ok spaces
    ]
    for r in rows:
        ws.append(list(r))
    ws.append([])  # 11 blank row inside the data
    more = [
        (7, "钱七", BAD_CHECK, None, "320923001001", None),  # 12 bad check
        (8, "孙八", BAD_DATE, None, "320923001001", None),  # 13 impossible date
        (9, "张一", GOOD[0], None, "320923001001", None),  # 14 duplicate of row 5
        (10, "周九", make_id(66, birth="19700101"), None, "320902001001", None),  # 15 out of scope
        (11, None, make_id(77, birth="19700101"), None, "320923001001", None),  # 16 missing name
        (12, "吴十", make_id(88, birth="19700101"), "12345", "320923001001", None),  # 17 bad phone
    ]
    for r in more:
        ws.append(list(r))
    ws.append(["合计", None, None, None, None, None])  # 18 total row
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def insured_workbook(rows) -> bytes:
    """An insured extract in the platform's column order."""
    header = ["姓名", "证件号码", "险种类型", "参保地", "参保日期", "终止日期", "参保状态"]
    return workbook(header, rows, title="参保人员明细")


def key_population_workbook(rows) -> bytes:
    return workbook(["姓名", "身份证号码", "人员类别"], rows)


def upload(client, content: bytes, name="户籍人口.xlsx", region="320923000000"):
    return client.post(
        "/imports/",
        data={"kind": "household", "region": region, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def run_jobs(app):
    with app.app_context():
        while queue.run_one("test"):
            pass


def run_comparison(client, app, region="320923000000", **fields):
    """Run the comparison of a region for the current insurance year from the page."""
    from portal.years.selection import current_year

    with app.app_context():
        year = current_year()
    response = client.post("/comparisons/", data={"region": region, "year": str(year), **fields})
    run_jobs(app)
    return response


def latest_batch(app) -> ImportBatch:
    return fetch(app, select(ImportBatch).order_by(ImportBatch.id.desc()).limit(1))[0]


def upload_kind(client, kind, content, name="参保人员.xlsx", region="320923000000"):
    return client.post(
        "/imports/",
        data={"kind": kind, "region": region, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def child_processes() -> set[int]:
    """This process's child processes still alive or unreaped (Linux): the import's loader and
    readers are gone once it ends."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        found |= {int(pid) for pid in (task / "children").read_text().split()}
    return found
