"""Refuse hostile or mislabelled uploads before any spreadsheet library touches them.

`inspect_upload` decides what a file really is from its first bytes and, for a zip, from its
central directory only (no decompression): size cap, declared uncompressed size, compression
ratio, number of entries, encryption, and whether it is a workbook at all. Every refusal is an
`UnsafeFile` whose message is Chinese and tells the user what to do.

`check_sheet_extent` is the one check that must decompress: calamine (0.36, python-calamine
0.9) allocates every sheet as a dense rows × columns grid, so a 5 KB .xlsx holding cells A1 and
XFD1048576 makes it ask for 550 GB and abort the whole process (tafia/calamine#693). The check
streams every part of the zip once, verifies the declared sizes (zipfile stops at the declared
size and checks the CRC) and finds the highest row and column any cell reference names.
"""

from __future__ import annotations

import codecs
import re
import struct
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from portal.imports import zipped

__all__ = [
    "ACCEPTED_EXTENSIONS",
    "DEFAULT_MAX_CELLS",
    "DEFAULT_MAX_UNCOMPRESSED",
    "FileKind",
    "UnsafeFile",
    "check_sheet_extent",
    "inspect_upload",
]

FileKind = Literal["xlsx", "xls", "csv"]

ACCEPTED_EXTENSIONS: dict[str, FileKind] = {".xlsx": "xlsx", ".xls": "xls", ".csv": "csv"}
ACCEPTED_HINT = "请上传 Excel 工作簿（.xlsx 或 Excel 97-2003 的 .xls）或 CSV 文件（.csv）。"

MB = 1024 * 1024
DEFAULT_MAX_UNCOMPRESSED = 2 * 1024 * MB
DEFAULT_MAX_RATIO = 200  # overall uncompressed : compressed; real sheets are about 5–30
RATIO_MIN_BYTES = 100 * MB  # the ratio only matters for big payloads
DEFLATE_MAX_RATIO = 1100  # deflate cannot exceed ~1032:1; more is a lie about the sizes
DEFAULT_MAX_ENTRIES = 5000
# A sheet's dense grid costs calamine 32 bytes a cell before any text: 20 M cells ≈ 640 MB.
# That is one million rows of twenty columns.
DEFAULT_MAX_CELLS = 20_000_000

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
SAMPLE_BYTES = 64 * 1024

_OTHER_FORMATS = (
    (b"%PDF", "PDF 文档"),
    (b"\x89PNG", "图片"),
    (b"\xff\xd8\xff", "图片"),
    (b"GIF8", "图片"),
    (b"BM", None),  # too short to be sure; only used for the wording below
    (b"Rar!", "RAR 压缩包"),
    (b"7z\xbc\xaf\x27\x1c", "7z 压缩包"),
    (b"\x1f\x8b", "gzip 压缩包"),
    (b"{\\rtf", "RTF 文档"),
)


class UnsafeFile(ValueError):
    """An upload refused before reading; `message` is Chinese and shown to the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _mb(n: int) -> str:
    return f"{n / MB:.0f}" if n >= 10 * MB else f"{n / MB:.1f}".rstrip("0").rstrip(".")


def _extension(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip().rstrip(".")
    return "." + base.rsplit(".", 1)[1].lower() if "." in base else ""


def inspect_upload(
    path: Path,
    filename: str,
    max_bytes: int,
    *,
    max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED,
    max_ratio: float = DEFAULT_MAX_RATIO,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> FileKind:
    """The kind of an uploaded file, judged by content and checked against its extension.

    Tolerated: a real .xlsx named .xls and a real .xls named .xlsx (Excel opens both after a
    warning; the returned kind is the real one). Refused: every other mismatch, HTML or XML
    pages posing as .xls, encrypted workbooks, Word/PDF/images/archives, zip bombs, files over
    `max_bytes`. Reads at most the first 64 KB and the zip's central directory, plus, for an
    Excel 97-2003 container, a byte search for its stream names.
    """
    ext = _extension(filename)
    if ext not in ACCEPTED_EXTENSIONS:
        shown = f"“{ext}”" if ext else "（没有扩展名）"
        raise UnsafeFile(f"不支持的文件类型{shown}。{ACCEPTED_HINT}")
    claimed = ACCEPTED_EXTENSIONS[ext]
    size = path.stat().st_size
    if size == 0:
        raise UnsafeFile("文件是空的（0 字节），请检查后重新上传。")
    if size > max_bytes:
        raise UnsafeFile(
            f"文件超过 {_mb(max_bytes)} MB（本文件 {_mb(size)} MB），"
            "请删除无关的工作表或拆分成几个文件后分批上传。"
        )
    with path.open("rb") as f:
        sample = f.read(SAMPLE_BYTES)

    if sample.startswith(ZIP_MAGIC):
        _check_zip(path, size, max_uncompressed, max_ratio, max_entries)
        if claimed == "csv":
            raise UnsafeFile(
                "文件扩展名是 .csv，但内容是 Excel 工作簿（.xlsx）。"
                "请把扩展名改为 .xlsx 后重新上传。"
            )
        return "xlsx"
    if sample.startswith(OLE2_MAGIC):
        _check_ole2(path)
        if claimed == "csv":
            raise UnsafeFile(
                "文件扩展名是 .csv，但内容是 Excel 97-2003 工作簿（.xls）。"
                "请把扩展名改为 .xls 后重新上传。"
            )
        return "xls"

    text = _decode_sample(sample)
    if text is None:
        raise UnsafeFile(_not_a_table(ext, claimed, sample))
    page = _page_kind(text)
    if page:
        raise UnsafeFile(
            f"文件的扩展名是 {ext}，但内容其实是{page}（一些业务系统导出的“Excel”就是这样），"
            "无法按表格读取。请用 Excel 或 WPS 打开它，“另存为” Excel 工作簿（.xlsx）后再上传。"
        )
    if claimed != "csv":
        raise UnsafeFile(
            f"文件扩展名是 {ext}，但内容不是 Excel 工作簿，而是纯文本（看起来像 CSV）。"
            "请用 Excel 或 WPS 打开它并“另存为” Excel 工作簿（.xlsx），"
            "或者把扩展名改为 .csv 后重新上传。"
        )
    return "csv"


def _not_a_table(ext: str, claimed: FileKind, sample: bytes) -> str:
    what = next(
        (label for magic, label in _OTHER_FORMATS if label and sample.startswith(magic)), None
    )
    found = f"而是{what}" if what else "也不是文本"
    if claimed == "csv":
        return f"文件扩展名是 .csv，但内容不是 CSV 文本，{found}。{ACCEPTED_HINT}"
    return f"文件扩展名是 {ext}，但内容不是 Excel 工作簿，{found}。{ACCEPTED_HINT}"


def _decode_sample(sample: bytes) -> str | None:
    """The sample as text, or None if it is binary. A truncated last character is fine."""
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return codecs.getincrementaldecoder("utf-16")("strict").decode(sample, final=False)
        except UnicodeDecodeError:
            return None
    if b"\x00" in sample:
        return None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = codecs.getincrementaldecoder(encoding)("strict").decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for ch in text if ch < " " and ch not in "\t\r\n\f\x1a")
        return None if controls > len(text) // 100 + 2 else text
    return None


def _page_kind(text: str) -> str | None:
    head = text.lstrip("\ufeff \t\r\n")[:2048].lower()
    if head.startswith("mime-version:") or "content-type: multipart/related" in head:
        return "网页存档（MHT）"
    if "urn:schemas-microsoft-com:office:spreadsheet" in head:
        return " Excel 2003 XML 表格"
    if head.startswith(("<!doctype html", "<html", "<table", "<meta", "<head", "<body")) or (
        "<html" in head or "<table" in head
    ):
        return "网页（HTML）"
    if head.startswith("<?xml") or head.startswith("<"):
        return " XML 文件"
    return None


# --- zip (.xlsx) ---------------------------------------------------------------------------

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"

_CORRUPT = "文件已损坏，无法作为 Excel 工作簿打开。请用 Excel 或 WPS 打开确认后重新保存再上传。"


def _declared_entries(path: Path, size: int) -> tuple[int, int]:
    """(entries, central directory bytes) from the end record, before zipfile reads them all."""
    with path.open("rb") as f:
        tail_len = min(size, 65535 + 22 + 20)
        f.seek(size - tail_len)
        tail = f.read(tail_len)
        at = tail.rfind(_EOCD)
        if at < 0 or len(tail) - at < 22:
            raise UnsafeFile(_CORRUPT)
        _sig, _disk, _cd_disk, _n_disk, entries, cd_size, _cd_off, _clen = struct.unpack(
            "<4s4H2LH", tail[at : at + 22]
        )
        if entries == 0xFFFF or cd_size == 0xFFFFFFFF:
            loc = at - 20
            if loc >= 0 and tail[loc : loc + 4] == _ZIP64_LOCATOR:
                (eocd64_off,) = struct.unpack("<Q", tail[loc + 8 : loc + 16])
                if eocd64_off + 56 > size:
                    raise UnsafeFile(_CORRUPT)
                f.seek(eocd64_off)
                rec = f.read(56)
                if rec[:4] != _ZIP64_EOCD:
                    raise UnsafeFile(_CORRUPT)
                entries, cd_size = struct.unpack("<QQ", rec[32:48])
    return entries, cd_size


def _check_zip(
    path: Path, size: int, max_uncompressed: int, max_ratio: float, max_entries: int
) -> None:
    entries, cd_size = _declared_entries(path, size)
    if entries > max_entries or cd_size > max_entries * 1024:
        raise UnsafeFile(
            f"文件内部包含的部件过多（{entries} 个），不像正常的 Excel 工作簿，已拒绝。"
            "请用 Excel 打开后另存为新的 .xlsx 再上传。"
        )
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise UnsafeFile(_CORRUPT) from exc
    if len(infos) > max_entries:
        raise UnsafeFile(
            f"文件内部包含的部件过多（{len(infos)} 个），不像正常的 Excel 工作簿，已拒绝。"
        )
    names = [i.filename for i in infos]
    lowered = {n.replace("\\", "/").lower() for n in names}
    if len(lowered) != len(names):
        raise UnsafeFile("文件内部有重名的部件，不是正常的 Excel 工作簿，已拒绝。")
    if any(i.flag_bits & 0x1 for i in infos):
        raise UnsafeFile(_ENCRYPTED)
    if any(i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) for i in infos):
        raise UnsafeFile(
            "文件使用了 Excel 不会使用的压缩方式，无法读取。请用 Excel 打开后另存为 .xlsx 再上传。"
        )
    if "xl/workbook.xml" not in lowered:
        raise UnsafeFile(_zip_but_not_xlsx(lowered))
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    bomb = (
        "文件解压后的大小异常（声明 {size} MB），疑似“压缩炸弹”，已拒绝。"
        "如果这是正常的名单，请拆分成几个文件后分批上传。"
    )
    if total > max_uncompressed:
        raise UnsafeFile(bomb.format(size=_mb(total)))
    if total > RATIO_MIN_BYTES and total > max_ratio * max(packed, 1):
        raise UnsafeFile(bomb.format(size=_mb(total)))
    for i in infos:
        if i.file_size > MB and i.file_size > DEFLATE_MAX_RATIO * max(i.compress_size, 1):
            raise UnsafeFile(bomb.format(size=_mb(total)))


_ENCRYPTED = (
    "文件设置了打开密码（已加密），无法读取。请在 Excel 中打开它，"
    "在“文件 → 信息 → 保护工作簿 → 用密码进行加密”里清除密码，保存后再上传。"
)


def _zip_but_not_xlsx(lowered: set[str]) -> str:
    if "xl/workbook.bin" in lowered:
        what = "Excel 二进制工作簿（.xlsb）"
    elif "word/document.xml" in lowered:
        what = "Word 文档"
    elif "ppt/presentation.xml" in lowered:
        what = "PowerPoint 演示文稿"
    elif "content.xml" in lowered and "mimetype" in lowered:
        what = "OpenDocument / WPS 表格（.ods 等）"
    else:
        what = "普通的 zip 压缩包"
    return (
        f"文件内容是{what}，不是 Excel 工作簿（.xlsx）。"
        "请用 Excel 或 WPS 打开名单，“另存为” Excel 工作簿（.xlsx）后再上传。"
    )


# --- OLE2 (.xls) ---------------------------------------------------------------------------


def _utf16(name: str) -> bytes:
    return name.encode("utf-16-le")


def _check_ole2(path: Path) -> None:
    """Refuse encrypted OOXML (an OLE2 container with EncryptedPackage) and non-Excel files."""
    found = _find_any(
        path,
        {
            "encrypted": _utf16("EncryptedPackage"),
            "workbook": _utf16("Workbook"),
            "book": _utf16("Book\x00"),  # the BIFF5 stream name, NUL-terminated in the directory
            "word": _utf16("WordDocument"),
            "powerpoint": _utf16("PowerPoint Document"),
        },
    )
    if "encrypted" in found:
        raise UnsafeFile(_ENCRYPTED)
    if "workbook" in found or "book" in found:
        return
    if "word" in found:
        what = "Word 文档（.doc）"
    elif "powerpoint" in found:
        what = "PowerPoint 演示文稿（.ppt）"
    else:
        what = "别的 Office 文件"
    raise UnsafeFile(f"文件内容是{what}，不是 Excel 工作簿。{ACCEPTED_HINT}")


def _find_any(path: Path, needles: dict[str, bytes], chunk: int = 4 * MB) -> set[str]:
    found: set[str] = set()
    overlap = max(len(n) for n in needles.values())
    with path.open("rb") as f:
        carry = b""
        while len(found) < len(needles):
            block = f.read(chunk)
            if not block:
                break
            data = carry + block
            for key, needle in needles.items():
                if key not in found and needle in data:
                    found.add(key)
            carry = data[-overlap:]
    return found


# --- cell extent (decompresses) ------------------------------------------------------------

_WS_TO_SPACE = bytes.maketrans(b"\t\n\r", b"   ")
_SHAPE = bytes.maketrans(b"\t\n\r0123456789", b"   9999999999")
# An r attribute written any way but ` r="`: whitespace around '=' or single quotes.
_ODD_REF = re.compile(rb" r(?: |=[^\"])")
_REF_CANONICAL = re.compile(rb' r="([A-Za-z]*)0*(\d+)"')
_REF_FLEXIBLE = re.compile(rb"\sr\s*=\s*[\"']([A-Za-z]*)0*(\d+)[\"']")
_MAX_TAG = 1 * MB


def _letters_to_column(letters: bytes) -> int:
    col = 0
    for ch in letters.upper():
        col = col * 26 + ch - 64
    return col


def _column_to_letters(col: int) -> str:
    letters = ""
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _greater_alternatives(text: str, first: str, alphabet: str) -> list[str]:
    """Regex alternatives for the strings of len(text) over `alphabet` that sort after `text`."""
    alts = []
    for i, ch in enumerate(text):
        higher = alphabet[alphabet.index(ch) + 1 :]
        if i == 0:
            higher = [c for c in higher if c in first]
        if higher:
            rest = len(text) - i - 1
            tail = f"[{alphabet[0]}-{alphabet[-1]}]{{{rest}}}" if rest else ""
            alts.append(f"{re.escape(text[:i])}[{higher[0]}-{higher[-1]}]{tail}")
    return alts


@lru_cache(maxsize=64)
def _beyond(max_row: int, max_col: int) -> re.Pattern[bytes]:
    """A ` r="…"` reference whose row is above `max_row` or whose column is above `max_col`."""
    digits = str(max_row)
    rows = [rf"[1-9]\d{{{len(digits)},}}"]
    rows += _greater_alternatives(digits, "123456789", "0123456789")
    pattern = rf' r="(?:[A-Za-z]*0*(?:{"|".join(rows)})"|{_columns_beyond(max_col)}\d)'
    return re.compile(pattern.encode())


@lru_cache(maxsize=64)
def _suspect(max_col: int) -> re.Pattern[bytes]:
    """An r attribute written oddly (see _ODD_REF) or naming a column above `max_col`."""
    return re.compile(rf' r(?: |=[^"]|="{_columns_beyond(max_col)}\d)'.encode())


def _columns_beyond(max_col: int) -> str:
    letters = _column_to_letters(max_col) if max_col else ""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    cols = [f"[A-Z]{{{len(letters) + 1},}}"]
    if letters:
        cols += _greater_alternatives(letters, alphabet, alphabet)
    return f"(?i:{'|'.join(cols)})"


def _extent(refs: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    if not refs:
        return 0, 0
    letters = {a for a, _ in refs}
    numbers = {d for _, d in refs}
    # Absurdly long references stand for "beyond any limit" without big-number arithmetic.
    top_row = max(int(d) if len(d) <= 12 else 10**12 for d in numbers)
    top_col = max(_letters_to_column(a) if len(a) <= 6 else 10**9 for a in letters)
    return top_row, top_col


def _too_big(rows: int, cols: int, max_cells: int) -> UnsafeFile:
    return UnsafeFile(
        f"有一个工作表的数据范围过大：至少 {rows} 行 × {cols} 列，超过了可以读取的上限"
        f"（{max_cells} 个单元格）。如果表格右侧或下方有远离数据的零散单元格，请删除它们后"
        "另存再上传；如果名单确实这么大，请拆分成几个文件分批上传。"
    )


def check_sheet_extent(path: Path, *, max_cells: int = DEFAULT_MAX_CELLS) -> None:
    """Refuse an .xlsx any part of which names cells spanning more than `max_cells`.

    Run it on files `inspect_upload` accepted as 'xlsx', before opening them with calamine.
    Every part is scanned, not only the worksheets the workbook names: calamine resolves sheet
    paths its own way, and a sheet can be pointed at any part. Cost: one decompression of the
    file (bounded by the declared sizes, which are verified on the way) and one regex search
    per 8 MB; about 0.4 s per 100 MB of sheet XML.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir() or info.file_size == 0:
                    continue
                known_columns: int | None = 0
                for attempt in range(3):
                    known_columns = _scan_part(
                        zf, info, max_cells, columns=known_columns or 0, exact=attempt == 2
                    )
                    if known_columns is None:
                        break
    except UnsafeFile:
        raise
    except (*zipped.Error, ValueError, NotImplementedError) as exc:
        raise UnsafeFile(_CORRUPT) from exc


def _chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo):
    """The part in pieces that end just after a '>', so no tag is ever cut in two."""
    xml_like = None
    carry = b""
    for block in zipped.blocks(zf, info):
        if xml_like is None:
            xml_like = info.filename.lower().endswith((".xml", ".rels", ".vml")) or (
                block.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<"
            )
        data = carry + block
        cut = data.rfind(b">") + 1
        if cut == 0:
            if len(data) > _MAX_TAG:
                if xml_like:
                    raise UnsafeFile(
                        f"文件内部的部件（{info.filename}）结构异常，不是正常的 Excel 工作簿。"
                    )
                yield data  # binary part (an image): no tags to keep whole
                carry = b""
            else:
                carry = data
            continue
        yield data[:cut]
        carry = data[cut:]
    if carry:
        yield carry


def _scan_part(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_cells: int, *, columns: int, exact: bool
) -> int | None:
    """Check one part; return None when done, or a new column maximum to rescan with.

    Only chunks holding a reference beyond the limits seen so far are parsed: the first one
    (header and widest rows, usually) sets the column limit, and the row limit follows from
    `max_cells`. Rows are first checked by shape, which is much cheaper than a regex per
    reference: with every digit turned into '9', no run of D+1 digits before a quote proves
    every row number is below 10**D. If a later chunk is wider, the part is scanned again with
    the wider limit, and the third time every chunk is parsed.
    """
    top_row = 0
    top_col = col_limit = columns
    row_limit = max_cells // columns if columns else 0
    for chunk in _chunks(zf, info):
        shape = chunk.translate(_SHAPE)
        if exact:
            suspect = True
        else:
            digits = len(str(row_limit + 1)) - 1
            suspect = b"9" * (digits + 1) + b'"' in shape or _suspect(col_limit).search(shape)
        if not suspect:
            continue
        text = chunk.translate(_WS_TO_SPACE)
        if _ODD_REF.search(text):
            refs = _REF_FLEXIBLE.findall(chunk)
        elif exact or _beyond(row_limit, col_limit).search(text):
            refs = _REF_CANONICAL.findall(text)
        else:
            continue
        rows, cols = _extent(refs)
        top_row, top_col = max(top_row, rows), max(top_col, cols)
        if top_row * max(top_col, 1) > max_cells:
            raise _too_big(top_row, top_col, max_cells)
        if col_limit and top_col > col_limit:
            # Earlier chunks were only checked against a row limit for fewer columns.
            return top_col
        col_limit = max(col_limit, top_col)
        row_limit = max_cells // max(col_limit, 1)
    return None
