"""What the job tests share: a small household workbook, job kinds for one test."""

import io

from openpyxl import Workbook

from portal.persons.idnumbers import check_character


def id_numbers(count: int, start: int = 0) -> list[str]:
    out = []
    for n in range(start, start + count):
        first17 = f"32092319790101{n % 1000:03d}"
        out.append(first17 + check_character(first17))
    return out


def household_workbook(count: int, start: int = 0) -> bytes:
    """A register of `count` people of 兴阜居委会, as an office sends the simplest one."""
    wb = Workbook()
    wb.active.append(["姓名", "身份证号", "所属社区"])
    for id_number in id_numbers(count, start):
        wb.active.append(["任务", id_number, "320923001001"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
