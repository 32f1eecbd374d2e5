"""What the job tests share: a small household workbook, job kinds for one test."""

import io

from openpyxl import Workbook
from sqlalchemy import select

from portal.accounts.models import User
from portal.extensions import db
from tests.factories import make_id


def id_numbers(count: int, start: int = 0) -> list[str]:
    return [make_id(n % 1000, birth="19790101") for n in range(start, start + count)]


def rename(job, progress):
    """A job handler: fc_grid1's display name becomes the payload's name (also run by a child
    process of tests/test_jobs_concurrency.py)."""
    user = db.session.scalar(select(User).where(User.username == "fc_grid1"))
    user.display_name = job.payload["name"]
    db.session.flush()


def household_workbook(count: int, start: int = 0) -> bytes:
    """A register of `count` people of 兴阜居委会, as an office sends the simplest one."""
    wb = Workbook()
    wb.active.append(["姓名", "身份证号", "所属社区"])
    for id_number in id_numbers(count, start):
        wb.active.append(["任务", id_number, "320923001001"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
