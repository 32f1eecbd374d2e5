"""Row validation for imported lists: raw spreadsheet cells in, a clean row or a reason out.

Pure functions over plain values (plus a region lookup built once per import); the reasons are
Chinese and go into the error workbook next to the original row.

Lists of records about persons (the insured extract 参保人员, the lapsed list 断缴人员) come as
the national database exports them: the ID number is the key and the name is optional (an empty
姓名 column is common); a name that is given is kept, normalised, and one that differs from the
register's is an identity mismatch the comparison counts (身份信息不一致), never a refusal.

Insured where? (参保地, 异地参保) A record is accepted whatever its insured place, as long as the
place is a real-looking region code (6, 9 or 12 digits of one of the 31 provinces, zeros only
below the level it names; the province's tree need not be loaded here). Who vouches for it
decides for whom it counts, and is settled on the row alone, never by what else is on file:
- the insured place lies in the importing batch's scope (the scope of the user's grants,
  narrowed to the batch's region): the place's own office vouches for it, `vouched_prefix` is
  NULL and the record counts for whoever the person is;
- anywhere else (another county, city or province): the batch's region vouches for it,
  `vouched_prefix` = the prefix of the batch's region (Region.prefix), and the record counts
  only for persons of that region (person.region_code starting with the prefix).
Whether the person is one of the region's is decided when the comparison runs, not on import:
the register may come before or after the extract and the outcome is the same; a record whose
person is no one of the region's counts for nobody else (imports/enrollments.py says how a
re-imported record keeps or changes its voucher).
"""

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from permissions import Scope
from portal.duplicates.codes import benefits_flag, category_code, payment_code
from portal.extensions import db
from portal.persons import idnumbers
from portal.persons.names import normalize_name
from portal.phones import is_clean_mobile, normalize_phone
from portal.regions.models import Region
from portal.regions.provinces import PROVINCES

MAX_NAME = 64  # characters; person.name is VARCHAR(64)
MAX_ADDRESS = 200  # characters kept; person.address is VARCHAR(200)
SEX_WORDS = {"男": "1", "1": "1", "男性": "1", "女": "2", "2": "2", "女性": "2"}


@dataclass(frozen=True)
class Rejection:
    row_number: int
    raw: list
    reason: str


def text(value) -> str:
    """A cell as trimmed text ('' for empty); integral floats lose their '.0'."""
    if value.__class__ is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value).strip()


def parse_date(value) -> date | None:
    """A date cell or text such as 1990-01-02, 1990/1/2, 19900102, 1990年1月2日; else None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = text(value).replace("年", "-").replace("月", "-").replace("日", "").replace("/", "-")
    raw = raw.replace(".", "-")
    try:
        if raw.isdigit() and len(raw) == 8:
            return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
        year, month, day = (int(part) for part in raw.split("-"))
        return date(year, month, day)
    except ValueError:
        return None


RESOLVED_CACHE = 100_000


class RegionResolver:
    """Turns a region cell (12-digit code or a community name) into a community code in scope."""

    def __init__(self, scope: Scope):
        self.scope = scope
        rows = db.session.execute(
            select(Region.code, Region.name).where(
                Region.level == 5, scope.region_clause(Region.code)
            )
        ).all()
        self.codes = {code for code, _ in rows}
        self.by_name: dict[str, list[str]] = {}
        for code, name in rows:
            self.by_name.setdefault(name, []).append(code)
        # A million rows name a few thousand communities: each distinct cell is resolved once.
        self._resolved: dict[tuple, tuple[str | None, str | None]] = {}
        self._resolved_text: dict[str, tuple[str | None, str | None]] = {}
        # How a code outside the scope is looked up (to say why it is refused); a forked reader
        # replaces it, as it must not use the parent's database connection.
        self.lookup: Callable[[str], Region | None] = lambda code: db.session.get(Region, code)

    def resolve(self, value) -> tuple[str | None, str | None]:
        if value.__class__ is str:  # nearly every cell: text keys need no class beside them
            found = self._resolved_text.get(value)
            if found is not None:
                return found
            result = self._resolve(value)
            if len(self._resolved_text) < RESOLVED_CACHE:
                self._resolved_text[value] = result
            return result
        key = (value.__class__, value)  # the class too: 1, 1.0 and True are equal keys
        try:
            return self._resolved[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable cell value
            return self._resolve(value)
        result = self._resolve(value)
        if len(self._resolved) < RESOLVED_CACHE:
            self._resolved[key] = result
        return result

    def _resolve(self, value) -> tuple[str | None, str | None]:
        raw = text(value)
        if not raw:
            return None, "缺少所属社区（村），请填写12位区划代码或社区名称"
        if raw.isdigit():
            code = raw.ljust(12, "0") if len(raw) < 12 else raw
            if len(code) != 12:
                return None, f"区划代码「{raw}」应为12位数字"
            if code in self.codes:
                return code, None
            region = self.lookup(code)
            if region is None:
                return None, f"区划代码「{raw}」不存在，请核对"
            if region.level != 5:
                return None, f"「{region.name}」是{region.level_name}级，所属区划须填到社区（村）"
            return None, f"「{region.name}」（{code}）不在您的管辖范围内"
        codes = self.by_name.get(raw, [])
        if len(codes) == 1:
            return codes[0], None
        if len(codes) > 1:
            return None, f"您的辖区内有{len(codes)}个名为「{raw}」的社区（村），请改填12位区划代码"
        return None, f"在您的辖区内找不到名为「{raw}」的社区（村），请填写12位区划代码"


def id_and_name(values: dict, today: date) -> tuple[str, str] | str:
    """The normalised ID number and the name of a row of any list, or the reason it is rejected."""
    check = idnumbers.normalize_id_number(values.get("id_number"), today)
    if check.error:
        return check.error
    name = text(values.get("name"))
    if not name:
        return "缺少姓名"
    if len(name) > MAX_NAME:
        return f"姓名过长（超过{MAX_NAME}个字符）"
    return check.value, name


def id_and_optional_name(values: dict, today: date) -> tuple[str, str | None] | str:
    """The normalised ID number and the normalised name (None when empty) of a row of a list of
    records (insured, lapsed), or the reason it is rejected: the ID number is the key, the name
    may be missing; an over-long name is cut, not a reason to lose an insured record."""
    check = idnumbers.normalize_id_number(values.get("id_number"), today)
    if check.error:
        return check.error
    name = normalize_name(text(values.get("name")))
    return check.value, name[:MAX_NAME] if name else None


_BIRTH_DAYS: dict[str, date] = {}  # YYYYMMDD of valid ID numbers → the date


def birth_day(id_number: str) -> date:
    """The birth date of a validated 18-character ID number (a few thousand distinct dates make
    up a million rows: each is built once)."""
    ymd = id_number[6:14]
    born = _BIRTH_DAYS.get(ymd)
    if born is None:
        born = date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
        if len(_BIRTH_DAYS) < 100_000:
            _BIRTH_DAYS[ymd] = born
    return born


def household_row(values: dict, resolver: RegionResolver, today: date) -> dict | str:
    """One household-register row as person columns, or the reason it is rejected.

    Runs once per row of files of a million rows: each cell is read once, and the birth date
    and sex come from the already validated ID by slicing.
    """
    identity = id_and_name(values, today)
    if isinstance(identity, str):
        return identity
    id_number, name = identity
    sex = "1" if int(id_number[16]) % 2 else "2"
    given_sex = text(values.get("sex"))
    if given_sex and SEX_WORDS.get(given_sex) != sex:
        return f"性别「{given_sex}」与身份证号不符（身份证号为{'男' if sex == '1' else '女'}性）"
    born = birth_day(id_number)
    given_birth = values.get("birth_date")
    if given_birth not in (None, ""):
        given = parse_date(given_birth)
        if given is None:
            return f"出生日期「{text(given_birth)}」无法识别"
        if given != born:
            return f"出生日期{given.isoformat()}与身份证号中的{born.isoformat()}不符"
    phone = values.get("phone")
    if not is_clean_mobile(phone):
        given_phone = text(phone)
        phone = None
        if given_phone:
            phone = normalize_phone(given_phone)
            if phone is None:
                return f"联系电话「{given_phone}」不是有效的手机号或固定电话"
    region_code, error = resolver.resolve(values.get("region"))
    if error:
        return error
    hukou = text(values.get("hukou_region")) or None
    if hukou is not None and not (hukou.isdigit() and len(hukou) <= 12):
        hukou = None  # a place name, kept in the address rather than guessed into a code
    address = text(values.get("address"))[:MAX_ADDRESS] or None
    return {
        "id_number": id_number,
        "name": name,
        "sex": sex,
        "birth_date": born,
        "phone": phone,
        "region_code": region_code,
        "hukou_region_code": hukou.ljust(12, "0") if hukou else None,
        "address": address,
    }


SCHEME_WORDS = {
    "职工": "employee",
    "职工医保": "employee",
    "城镇职工": "employee",
    "employee": "employee",
    "居民": "resident",
    "居民医保": "resident",
    "城乡居民": "resident",
    "城镇居民": "resident",
    "新农合": "resident",
    "resident": "resident",
}
STATUS_WORDS = {
    "": "normal",
    "正常": "normal",
    "参保": "normal",
    "在保": "normal",
    "参保缴费": "normal",
    "正常参保": "normal",
    "暂停": "suspended",
    "暂停缴费": "suspended",
    "中断": "suspended",
    "终止": "terminated",
    "停保": "terminated",
    "注销": "terminated",
    "终止参保": "terminated",
}


def scheme_code(value) -> str | None:
    raw = text(value).replace(" ", "")
    if raw in SCHEME_WORDS:
        return SCHEME_WORDS[raw]
    if "职工" in raw:
        return "employee"
    if "居民" in raw:
        return "resident"
    return None


# The digits of each level of a 12-digit code: province, city, county, township, community.
LEVEL_DIGITS = ((0, 2), (2, 4), (4, 6), (6, 9), (9, 12))
PLACE_LENGTHS = (6, 9, 12)


def insured_place(raw: str) -> tuple[str | None, str | None]:
    """The insured place of a list of records as a 12-digit code, wherever in the country it
    lies, or the reason it is rejected. Real-looking is all that is asked: 6, 9 or 12 digits,
    one of the 31 provinces, and no level given below a level left at zeros (medical-insurance
    codes such as 320999, Yancheng's city level 市本级, pass)."""
    if not raw.isdigit() or len(raw) not in PLACE_LENGTHS:
        return None, f"参保地「{raw}」应为6位或12位区划代码"
    code = raw.ljust(12, "0")
    if code[:2] not in PROVINCES:
        return None, f"参保地「{raw}」不是有效的区划代码（没有代码为{code[:2]}的省份）"
    levels = [code[a:b] for a, b in LEVEL_DIGITS]
    zero = next((n for n, part in enumerate(levels) if not part.strip("0")), len(levels))
    if any(part.strip("0") for part in levels[zero:]):
        return None, f"参保地「{raw}」不是有效的区划代码"
    return code, None


def voucher(place: str, scope: Scope, batch_prefix: str) -> str | None:
    """Who vouches for a record insured at `place` (see the module's docstring): None when the
    batch's scope holds the place, else the batch region's prefix."""
    return None if scope.contains(place) else batch_prefix


def insured_row(
    values: dict,
    scope: Scope,
    default_region: str,
    today: date,
    batch_prefix: str,
    place_names: Callable[[str], str | None] | None = None,
) -> dict | str:
    """One row of the insured extract as an enrollment record, or the reason it is rejected.

    `default_region`: the insured place of a row that gives none (the batch's region);
    `batch_prefix`: that region's prefix, the voucher of records insured outside the scope;
    `place_names`: a region's code from its name (就业地/学籍地 given as a name), see rule_facts."""
    identity = id_and_optional_name(values, today)
    if isinstance(identity, str):
        return identity
    scheme = scheme_code(values.get("scheme"))
    if scheme is None:
        return f"险种「{text(values.get('scheme'))}」无法识别，应为“职工医保”或“居民医保”"
    region, error = insured_place(text(values.get("insured_region")) or default_region)
    if error:
        return error
    start = parse_date(values.get("start_date")) if text(values.get("start_date")) else None
    if text(values.get("start_date")) and start is None:
        return f"参保开始日期「{text(values.get('start_date'))}」无法识别"
    end = parse_date(values.get("end_date")) if text(values.get("end_date")) else None
    if text(values.get("end_date")) and end is None:
        return f"参保终止日期「{text(values.get('end_date'))}」无法识别"
    status = STATUS_WORDS.get(text(values.get("status")).replace(" ", ""))
    if status is None:
        return f"参保状态「{text(values.get('status'))}」无法识别，应为正常、暂停或终止"
    start = start or date(today.year, 1, 1)
    if end is not None and end < start:
        return f"终止日期{end.isoformat()}早于开始日期{start.isoformat()}"
    facts = rule_facts(values, place_names)
    if isinstance(facts, str):
        return facts
    return {
        "id_number": identity[0],
        "scheme": scheme,
        "region_code": region,
        "start_date": start,
        "end_date": end,
        "status": status,
        "name": identity[1],
        "vouched_prefix": voucher(region, scope, batch_prefix),
        **facts,
    }


MAX_EMPLOYER = 100  # characters kept; enrollment.employer is VARCHAR(100)
MAX_MONTHS = 1200  # a hundred years of contributions


def rule_facts(values: dict, place_names: Callable[[str], str | None] | None = None) -> dict | str:
    """The facts the duplicate keep-rules read (duplicates/rules.py), from the optional columns
    of an insured row; or the reason the row is rejected.

    Each is None when its column is missing or its cell empty. What a cell that is given but
    cannot be read does depends on the column:
    - words (人员类别, 缴费状态, 享受待遇): stored as None, the record is kept — offices word these
      columns their own way, and a word we do not know must not lose an insured record; the
      keep-rules then say which fact is missing;
    - a code, a date or a number (就业地/学籍地 as a code, 缴费截止日期, 连续参保月数): the row
      is rejected with the reason, as for the start and end dates — a typo to correct;
    - 就业地/学籍地 as a name: a region of the loaded tree with that exact name, when exactly one
      (`place_names`); any other name is stored as None (a place outside the tree is no error).
    """
    employer = text(values.get("employer"))[:MAX_EMPLOYER] or None
    place = text(values.get("employer_region"))
    place_code = None
    if place:
        if place.isdigit():
            place_code, error = insured_place(place)
            if error:
                return f"就业地/学籍地「{place}」应为6位、9位或12位区划代码，或填写地区名称"
        elif place_names is not None:
            place_code = place_names(place)
    paid_until = None
    given = text(values.get("paid_until"))
    if given:
        paid_until = parse_date(values.get("paid_until")) or month_end(values.get("paid_until"))
        if paid_until is None:
            return f"缴费截止日期「{given}」无法识别，如 2026-12-31"
    elif text(values.get("last_paid_month")):
        paid_until = month_end(values.get("last_paid_month"))
        if paid_until is None:
            month = text(values.get("last_paid_month"))
            return f"末次缴费年月「{month}」无法识别，应写成如 2026-07 或 202607"
    months = None
    given = text(values.get("continuous_months"))
    if given:
        months = month_count(given)
        if months is None:
            return f"连续参保月数「{given}」无法识别，应为0到{MAX_MONTHS}之间的整数（如 24）"
    return {
        "category": category_code(text(values.get("category"))),
        "employer": employer,
        "employer_region_code": place_code,
        "payment_status": payment_code(text(values.get("payment_status"))),
        "paid_until": paid_until,
        "continuous_months": months,
        "benefits": benefits_flag(text(values.get("benefits"))),
    }


def month_count(raw: str) -> int | None:
    """A number of months: 24, 24个月, 24月, 2年, 2年3个月; None when unreadable."""
    value = raw.replace(" ", "").replace("个月", "月").removesuffix("月")
    years, _, months = value.partition("年") if "年" in value else ("0", "", value)
    years, months = years or "0", months or "0"
    if not (years.isdigit() and months.isdigit()):
        return None
    total = int(years) * 12 + int(months)
    return total if total <= MAX_MONTHS else None


EARLIEST_STOP = date(1990, 1, 1)


def month_end(value) -> date | None:
    """The last day of a month cell: 2026-07, 202607, 2026年7月, 2026/7, or a date in the month."""
    raw = text(value).replace("年", "-").replace("月", "").replace("/", "-").replace(".", "-")
    if raw.isdigit() and len(raw) == 6:
        raw = f"{raw[:4]}-{raw[4:]}"
    parts = raw.split("-")
    if len(parts) == 2 and len(parts[0]) == 4 and all(p.isdigit() for p in parts):
        year, month = int(parts[0]), int(parts[1])
        if not 1 <= month <= 12:
            return None
    else:
        day = parse_date(value)
        if day is None:
            return None
        year, month = day.year, day.month
    return date(year, month, calendar.monthrange(year, month)[1])


def stop_date(values: dict, today: date) -> date | str:
    """The day contributions stopped: the 停保日期 cell, else the last day of the last paid month;
    or the reason it is rejected."""
    given = text(values.get("stop_date"))
    if given:
        stop = parse_date(values["stop_date"])
        if stop is None:
            return f"停保日期「{given}」无法识别"
    else:
        month = text(values.get("last_paid_month"))
        if not month:
            return "缺少停保日期（或末次缴费年月）"
        stop = month_end(values["last_paid_month"])
        if stop is None:
            return f"末次缴费年月「{month}」无法识别，应写成如 2026-07 或 202607"
    if stop > today:
        return f"停保日期{stop.isoformat()}在今天之后，断缴人员名单只登记已经停止缴费的人员"
    if stop < EARLIEST_STOP:
        return f"停保日期{stop.isoformat()}早于1990年，请核对"
    return stop


def lapsed_row(
    values: dict, scope: Scope, default_region: str, today: date, batch_prefix: str
) -> dict | str:
    """One row of a lapsed list (断缴人员) as (ID, name, insured place, its voucher, stop date),
    or the reason it is rejected. Only employee insurance lapses: resident insurance is paid
    year by year. The insured place (the employer's) may lie anywhere, as in the insured
    extract: a Funing resident whose Tinghu employer stopped paying is Funing's to record."""
    identity = id_and_optional_name(values, today)
    if isinstance(identity, str):
        return identity
    given_scheme = text(values.get("scheme"))
    if given_scheme and scheme_code(given_scheme) != "employee":
        return (
            f"险种「{given_scheme}」：断缴人员名单只登记职工医保的停保，"
            "居民医保请随参保人员名单导入"
        )
    place = text(values.get("insured_region")) or text(values.get("region")) or default_region
    region, error = insured_place(place)
    if error:
        return error
    stop = stop_date(values, today)
    if isinstance(stop, str):
        return stop
    return {
        "id_number": identity[0],
        "name": identity[1],
        "region_code": region,
        "vouched_prefix": voucher(region, scope, batch_prefix),
        "stop_date": stop,
    }


# Words offices write in a category column, matched against each part of the cell.
CATEGORY_WORDS = (
    ("特困", "extreme_poverty"),
    ("五保", "extreme_poverty"),
    ("低保", "minimum_allowance"),
    ("最低生活保障", "minimum_allowance"),
    ("监测", "monitored"),
    ("防返贫", "monitored"),
    ("脱贫", "lifted_poverty"),
    ("建档立卡", "lifted_poverty"),
    ("贫困", "lifted_poverty"),
    ("孤儿", "orphan"),
    ("无人抚养", "orphan"),
    ("重度残疾", "severe_disability"),
    ("一级残疾", "severe_disability"),
    ("二级残疾", "severe_disability"),
    ("优抚", "veteran"),
    ("学生", "student"),
    ("新生儿", "newborn"),
    ("灵活就业", "flexible_worker"),
    ("新业态", "flexible_worker"),
    ("农民工", "migrant_worker"),
    ("被征地", "land_lost_farmer"),
    ("失地", "land_lost_farmer"),
    ("刑满释放", "released_prisoner"),
    ("断缴", "lapsed_payer"),
)


def category_bits(value) -> int | None:
    """Key-population bits of a cell such as “低保、重度残疾”; None if a part is not understood."""
    from portal.persons.codes import KEY_POPULATION_BY_CODE

    raw = text(value)
    for separator in "，,、/；; ":
        raw = raw.replace(separator, "|")
    bits = 0
    for part in filter(None, raw.split("|")):
        code = (
            part
            if part in KEY_POPULATION_BY_CODE
            else next((c for word, c in CATEGORY_WORDS if word in part), None)
        )
        if code is None:
            return None
        bits |= KEY_POPULATION_BY_CODE[code].bit
    return bits or None


def key_population_row(values: dict, fixed_category: str | None, today: date) -> dict | str:
    """One row of a key-population list as (ID, category bits), or the reason it is rejected."""
    from portal.persons.codes import KEY_POPULATION_BY_CODE

    identity = id_and_name(values, today)
    if isinstance(identity, str):
        return identity
    given = text(values.get("category"))
    if given:
        bits = category_bits(given)
        if bits is None:
            return f"人员类别「{given}」无法识别，如：特困人员、低保对象、脱贫人口、重度残疾人"
    elif fixed_category:
        bits = KEY_POPULATION_BY_CODE[fixed_category].bit
    else:
        return "缺少人员类别"
    return {"id_number": identity[0], "bits": bits}


def e_credential_row(values: dict, today: date) -> dict | str:
    """One row of an e-credential activation list as the ID number, or the reason it is
    rejected. The name may be missing (the ID number is the key); an activation date, when
    given, must be a date not after today."""
    identity = id_and_optional_name(values, today)
    if isinstance(identity, str):
        return identity
    given = text(values.get("activated_on"))
    if given:
        day = parse_date(values.get("activated_on"))
        if day is None:
            return f"激活日期「{given}」无法识别，如 2026-10-08"
        if day > today:
            return f"激活日期{day.isoformat()}晚于今天，请核对"
    return {"id_number": identity[0]}
