"""Uploads are judged by content: mislabelled, hostile and oversized files are refused quickly."""

import os
import struct
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from portal.imports import safety, zipped
from portal.imports.safety import UnsafeFile, check_sheet_extent, inspect_upload

pytestmark = pytest.mark.no_db

MB = 1024 * 1024


def _xlsx(path: Path) -> Path:
    wb = Workbook()
    wb.active.append(["姓名", "公民身份号码", "村（社区）"])
    wb.active.append(["张三", "32092319900101123X", "320923001001"])
    wb.save(path)
    return path


def _minimal_xlsx(path: Path, sheet_xml: str, extra: dict[str, bytes] | None = None) -> Path:
    """A workbook with one sheet whose XML is given verbatim (for hand-made hostile sheets)."""
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<workbook {ns} xmlns:r="{rel}"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f"<worksheet {ns}><sheetData>{sheet_xml}</sheetData></worksheet>"
        ),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def _refused(path: Path, filename: str, max_bytes: int = 10 * MB, **kw) -> str:
    with pytest.raises(UnsafeFile) as caught:
        inspect_upload(path, filename, max_bytes, **kw)
    assert str(caught.value) == caught.value.message
    return caught.value.message


# --- kinds by content ----------------------------------------------------------------------


def test_a_real_xlsx_is_accepted_even_when_named_xls(tmp_path):
    path = _xlsx(tmp_path / "upload")
    assert inspect_upload(path, "户籍人口.xlsx", 10 * MB) == "xlsx"
    assert inspect_upload(path, "户籍人口.XLSX", 10 * MB) == "xlsx"
    assert inspect_upload(path, "C:\\Users\\x\\户籍人口.xls", 10 * MB) == "xlsx"


def test_an_excel_97_workbook_is_accepted_even_when_named_xlsx(tmp_path):
    path = tmp_path / "upload"
    path.write_bytes(safety.OLE2_MAGIC + bytes(500) + "Workbook".encode("utf-16-le") + bytes(500))
    assert inspect_upload(path, "名单.xls", 10 * MB) == "xls"
    assert inspect_upload(path, "名单.xlsx", 10 * MB) == "xls"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk", "gb18030", "utf-16"])
def test_csv_in_the_usual_encodings_is_accepted(tmp_path, encoding):
    path = tmp_path / "upload"
    path.write_text("姓名,公民身份号码\n张三,32092319900101123X\n", encoding=encoding)
    assert inspect_upload(path, "名单.csv", 10 * MB) == "csv"


def test_a_csv_renamed_to_xlsx_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "upload"
    path.write_text("姓名,公民身份号码\n张三,32092319900101123X\n", encoding="gbk")
    message = _refused(path, "户籍人口.xlsx")
    assert "文件扩展名是 .xlsx，但内容不是 Excel 工作簿" in message
    assert ".csv" in message and "另存为" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("<html><head><meta charset='utf-8'></head><body><table><tr><td>姓名</td></tr>", "网页"),
        (
            '<?xml version="1.0"?><?mso-application progid="Excel.Sheet"?>'
            '<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">',
            "XML",
        ),
        ("MIME-Version: 1.0\nContent-Type: multipart/related; boundary=x\n", "MHT"),
    ],
)
def test_web_pages_exported_as_xls_are_refused_asking_to_save_as_xlsx(tmp_path, content, expected):
    path = tmp_path / "upload"
    path.write_text(content, encoding="utf-8")
    message = _refused(path, "系统导出.xls")
    assert expected in message and "另存为" in message and ".xlsx" in message


def test_an_xlsx_named_csv_is_refused_with_the_fix(tmp_path):
    message = _refused(_xlsx(tmp_path / "upload"), "名单.csv")
    assert "扩展名改为 .xlsx" in message


@pytest.mark.parametrize(
    ("head", "what"),
    [(b"%PDF-1.7\n", "PDF"), (b"\x89PNG\r\n\x1a\n", "图片"), (b"Rar!\x1a\x07\x00", "RAR")],
)
def test_other_formats_are_named(tmp_path, head, what):
    path = tmp_path / "upload"
    path.write_bytes(head + os.urandom(2000))
    assert what in _refused(path, "名单.xlsx")


@pytest.mark.parametrize("filename", ["名单.xlsx", "名单.xls", "名单.csv"])
def test_random_binary_is_refused_whatever_its_name(tmp_path, filename):
    path = tmp_path / "upload"
    path.write_bytes(os.urandom(100_000))
    message = _refused(path, filename)
    assert "内容不是" in message


def test_unknown_extensions_are_refused_listing_the_accepted_kinds(tmp_path):
    path = _xlsx(tmp_path / "upload")
    for filename in ("名单.docx", "名单.xlsm", "名单", "名单.et"):
        message = _refused(path, filename)
        assert ".xlsx" in message and ".xls" in message and ".csv" in message


def test_size_cap_and_empty_file(tmp_path):
    path = tmp_path / "upload"
    path.write_bytes(b"a,b\n" * (MB // 4 + 1))
    assert "文件超过 1 MB" in _refused(path, "名单.csv", max_bytes=MB)
    path.write_bytes(b"")
    assert "空的" in _refused(path, "名单.csv")


def test_encrypted_workbooks_are_refused_asking_to_remove_the_password(tmp_path):
    # A password-protected .xlsx is an OLE2 container holding an EncryptedPackage stream.
    path = tmp_path / "upload"
    path.write_bytes(
        safety.OLE2_MAGIC + bytes(1000) + "EncryptedPackage".encode("utf-16-le") + bytes(100)
    )
    assert "密码" in _refused(path, "名单.xlsx")


def test_word_and_zip_files_posing_as_workbooks_are_named(tmp_path):
    doc = tmp_path / "doc"
    doc.write_bytes(safety.OLE2_MAGIC + bytes(700) + "WordDocument".encode("utf-16-le"))
    assert "Word" in _refused(doc, "名单.xls")
    docx = tmp_path / "docx"
    with zipfile.ZipFile(docx, "w") as zf:
        zf.writestr("word/document.xml", "<w:document/>")
    assert "Word" in _refused(docx, "名单.xlsx")
    plain = tmp_path / "zip"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("名单.xlsx", b"PK")
    assert "压缩包" in _refused(plain, "名单.xlsx")
    xlsb = tmp_path / "xlsb"
    with zipfile.ZipFile(xlsb, "w") as zf:
        zf.writestr("xl/workbook.bin", b"\x00")
    assert ".xlsb" in _refused(xlsb, "名单.xlsx")


def test_a_corrupt_zip_is_refused(tmp_path):
    path = tmp_path / "upload"
    path.write_bytes(_xlsx(tmp_path / "good.xlsx").read_bytes()[:3000])
    assert "损坏" in _refused(path, "名单.xlsx")


# --- zip bombs -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zeros_bomb(tmp_path_factory) -> Path:
    """A 300 KB .xlsx whose sheet is 300 MB of zeros (about 1000:1)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            block = bytes(MB)
            for _ in range(300):
                f.write(block)
    return path


def test_a_zip_bomb_is_refused_from_its_directory_alone(zeros_bomb):
    assert zeros_bomb.stat().st_size < 2 * MB
    started = time.perf_counter()
    message = _refused(zeros_bomb, "名单.xlsx")
    assert time.perf_counter() - started < 0.5
    assert "压缩炸弹" in message
    # The same file under a tighter total limit is refused for its declared size.
    assert "压缩炸弹" in _refused(zeros_bomb, "名单.xlsx", max_uncompressed=100 * MB)


def _patch_declared_size(path: Path, name: str, size: int) -> None:
    """Rewrite the uncompressed size an entry declares, in its local and central headers."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for signature, size_at, name_len_at, name_at in (
        (b"PK\x03\x04", 22, 26, 30),
        (b"PK\x01\x02", 24, 28, 46),
    ):
        at = data.find(signature)
        while at >= 0:
            (name_len,) = struct.unpack_from("<H", data, at + name_len_at)
            if bytes(data[at + name_at : at + name_at + name_len]) == encoded:
                struct.pack_into("<L", data, at + size_at, size)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


def test_an_entry_declaring_a_huge_size_is_refused(tmp_path):
    path = _xlsx(tmp_path / "upload")
    _patch_declared_size(path, "xl/worksheets/sheet1.xml", 3_000_000_000)
    assert "压缩炸弹" in _refused(path, "名单.xlsx")


def test_an_entry_lying_about_its_size_is_caught_when_scanned(tmp_path):
    # Declares 100 bytes, holds 2 MB: the directory looks harmless, decompression does not.
    path = _minimal_xlsx(tmp_path / "upload", "", extra={"xl/media/pad.xml": b" " * (2 * MB)})
    _patch_declared_size(path, "xl/media/pad.xml", 100)
    assert inspect_upload(path, "名单.xlsx", 10 * MB) == "xlsx"
    with pytest.raises(UnsafeFile, match="损坏"):
        check_sheet_extent(path)


def test_too_many_entries_are_refused(tmp_path):
    path = tmp_path / "upload"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        for i in range(30):
            zf.writestr(f"xl/x{i}.xml", "")
    assert "部件过多" in _refused(path, "名单.xlsx", max_entries=20)


def test_encrypted_zip_entries_are_refused(tmp_path):
    path = _xlsx(tmp_path / "upload")
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    data[at + 8] |= 0x01  # general purpose flag: encrypted
    path.write_bytes(bytes(data))
    assert "密码" in _refused(path, "名单.xlsx")


# --- cell extent ---------------------------------------------------------------------------


def test_two_far_apart_cells_are_refused_before_calamine_sees_them(tmp_path):
    # calamine would allocate 1,048,576 × 16,384 cells (550 GB) for this 5 KB file and abort.
    wb = Workbook()
    wb.active["A1"] = "姓名"
    wb.active["XFD1048576"] = "x"
    path = tmp_path / "far.xlsx"
    wb.save(path)
    assert inspect_upload(path, "名单.xlsx", 10 * MB) == "xlsx"
    with pytest.raises(UnsafeFile, match="数据范围过大"):
        check_sheet_extent(path)


@pytest.mark.parametrize(
    "cells",
    [
        "<row r='1'><c r='A1'><v>1</v></c><c r='XFD1'><v>1</v></c></row>"
        "<row r='1048576'><c r='A1048576'><v>1</v></c></row>",
        '<row r="1"><c r = "A1"><v>1</v></c></row><row r="1048576"><c\nr="xfd1048576"><v>1</v></c>'
        "</row>",
        # Cells without r take their row from <row r>.
        '<row r="1"><c r="Z1"><v>1</v></c></row><row r="1048576"><c><v>1</v></c></row>',
        '<row r="1"><c r="A1"><v>1</v></c><c r="A0001048576"><v>1</v></c></row>'
        '<row r="2"><c r="Z2"><v>1</v></c></row>',
    ],
    ids=["single-quotes", "spaces-and-lowercase", "row-element", "leading-zeros"],
)
def test_far_references_are_found_however_they_are_written(tmp_path, cells):
    path = _minimal_xlsx(tmp_path / "far.xlsx", cells)
    with pytest.raises(UnsafeFile, match="数据范围过大"):
        check_sheet_extent(path)


def test_a_sheet_pointed_at_an_unusual_part_is_still_scanned(tmp_path):
    far = '<row r="1"><c r="A1"><v>1</v></c><c r="XFD1048576"><v>1</v></c></row>'
    path = _minimal_xlsx(
        tmp_path / "far.xlsx", "", extra={"xl/media/image1.png": f"<sheetData>{far}</sheetData>"}
    )
    with pytest.raises(UnsafeFile, match="数据范围过大"):
        check_sheet_extent(path)


def _tall_sheet(rows: int, wide_row: int | None = None, width: int = 3) -> str:
    out = []
    for r in range(1, rows + 1):
        cols = 40 if r == wide_row else width
        cells = "".join(
            f'<c r="{safety._column_to_letters(c)}{r}"><v>{r}</v></c>' for c in range(1, cols + 1)
        )
        out.append(f'<row r="{r}">{cells}</row>')
    return "".join(out)


def test_normal_sheets_pass_and_a_late_wide_row_is_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(zipped, "BLOCK", 4096)  # many chunks, so later ones take the fast path
    path = _minimal_xlsx(tmp_path / "ok.xlsx", _tall_sheet(3000, wide_row=2900))
    check_sheet_extent(path, max_cells=3000 * 40)
    with pytest.raises(UnsafeFile, match="数据范围过大"):
        check_sheet_extent(path, max_cells=3000 * 40 - 1)
    # A narrow sheet is limited by its rows alone.
    path = _minimal_xlsx(tmp_path / "narrow.xlsx", _tall_sheet(3000))
    check_sheet_extent(path, max_cells=9000)
    with pytest.raises(UnsafeFile, match="数据范围过大"):
        check_sheet_extent(path, max_cells=8999)


@pytest.mark.parametrize("limit", [9, 26, 27, 99, 702, 703, 100_000, 1_048_576])
def test_the_beyond_pattern_agrees_with_arithmetic(limit):
    pattern = safety._beyond(limit, limit)
    for value in (1, limit - 1, limit, limit + 1, limit * 10, 16384):
        if value < 1:
            continue
        letters = safety._column_to_letters(value)
        assert bool(pattern.search(f' r="A{value}"'.encode())) == (value > limit), value
        assert bool(pattern.search(f' r="{letters}1"'.encode())) == (value > limit), value
        assert bool(pattern.search(f' r="{letters.lower()}1"'.encode())) == (value > limit)
        assert safety._letters_to_column(letters.encode()) == value


def test_inflated_blocks_are_bounded_and_a_changed_byte_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(zipped, "BLOCK", 1000)
    path = tmp_path / "a.zip"
    content = b"<row/>" * 10_000  # compresses a thousandfold: one read inflates it all
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("deflated.xml", content, zipfile.ZIP_DEFLATED)
        zf.writestr("stored.xml", content, zipfile.ZIP_STORED)
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            got = list(zipped.blocks(zf, info))
            assert b"".join(got) == content and max(map(len, got)) <= 1000
    data = path.read_bytes()
    at = data.rindex(content[:600])  # inside the stored entry
    path.write_bytes(data[:at] + b"<wor/>" + data[at + 6 :])
    with zipfile.ZipFile(path) as zf, pytest.raises(zipfile.BadZipFile, match="CRC"):
        list(zipped.blocks(zf, zf.getinfo("stored.xml")))
