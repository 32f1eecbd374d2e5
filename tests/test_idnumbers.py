"""National ID numbers (GB 11643-1999): normalisation, validation and the Chinese error messages."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from portal.persons import idnumbers as ids
from portal.persons.idnumbers import (
    IdCheck,
    birth_date,
    check_character,
    convert_15_to_18,
    normalize_id_number,
    sex,
)

pytestmark = pytest.mark.no_db

TODAY = date(2026, 1, 1)
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
DIGITS = "0123456789"
WHITESPACE = (" ", "\t", "\u3000", "\xa0", "\n")


def norm(raw):
    return normalize_id_number(raw, today=TODAY)


def literal_check_character(first17: str) -> str:
    """The standard's definition, written out independently of the module's fast version."""
    total = sum(w * int(c) for w, c in zip(WEIGHTS, first17, strict=True))
    return "10X98765432"[total % 11]


regions = st.integers(0, 999_999).map(lambda n: f"{n:06d}")
sequences = st.integers(0, 999).map(lambda n: f"{n:03d}")


@st.composite
def valid_ids(draw, min_birth=date(1900, 1, 1), max_birth=date(2025, 12, 31)):
    born = draw(st.dates(min_value=min_birth, max_value=max_birth))
    first17 = draw(regions) + born.strftime("%Y%m%d") + draw(sequences)
    return first17 + literal_check_character(first17)


@st.composite
def valid_ids_15(draw):
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)))
    return draw(regions) + born.strftime("%y%m%d") + draw(sequences)


def fullwidth(c: str) -> str:
    return "Ｘ" if c == "X" else chr(0xFF10 + int(c))


@st.composite
def messy_variants(draw, id18: str):
    """The same number as the field types it: full-width, lowercase x, spaces, padding."""
    parts = []
    for c in id18:
        style = draw(st.sampled_from(("ascii", "fullwidth", "lower")))
        if style == "fullwidth":
            c = fullwidth(c) if c != "X" else draw(st.sampled_from("Ｘｘ"))
        elif style == "lower":
            c = c.lower()
        parts.append(c)
        parts.append(draw(st.sampled_from(("",) * 4 + WHITESPACE)))
    padding = st.text(alphabet="".join(WHITESPACE), max_size=3)
    return draw(padding) + "".join(parts) + draw(padding)


# --- properties ---------------------------------------------------------------------------------


@given(valid_ids())
@example("11010519491231002X")
def test_valid_ids_are_accepted_unchanged(id18):
    assert norm(id18) == IdCheck(id18, None, False)
    assert norm(id18).ok


@given(st.data(), valid_ids())
def test_messy_variants_normalise_to_the_same_value(data, id18):
    variant = data.draw(messy_variants(id18))
    assert norm(variant) == IdCheck(id18, None, False)


@given(valid_ids(), st.sampled_from(("-", "－", "—", " - ")))
def test_dashes_between_groups_are_removed(id18, dash):
    grouped = dash.join((id18[:6], id18[6:14], id18[14:]))
    assert norm(grouped).value == id18


@given(valid_ids(), st.integers(0, 17), st.sampled_from(DIGITS))
def test_any_single_digit_substitution_is_rejected(id18, position, digit):
    assume(id18[position] != digit)
    mutated = id18[:position] + digit + id18[position + 1 :]
    result = norm(mutated)
    assert result.value is None
    assert result.error.startswith(ids.MSG_CHECK) or "出生日期" in result.error
    # Stronger: the mod-11 check alone catches it, since no weight is 0 mod 11 and a digit
    # changes by less than 11. The date check only decides which message is shown.
    assert literal_check_character(mutated[:17]) != mutated[17]


@given(valid_ids(), st.integers(0, 16))
def test_any_adjacent_transposition_is_rejected(id18, position):
    a, b = id18[position], id18[position + 1]
    assume(a != b and b != "X")
    swapped = id18[:position] + b + a + id18[position + 2 :]
    assert not norm(swapped).ok


@given(valid_ids_15())
def test_15_digit_ids_convert_to_valid_18(id15):
    id18 = convert_15_to_18(id15)
    assert len(id18) == 18
    assert id18[:6] == id15[:6]
    assert id18[6:14] == "19" + id15[6:12]
    assert id18[14:17] == id15[12:15]
    assert id18[17] == literal_check_character(id18[:17])
    assert norm(id18) == IdCheck(id18, None, False)
    assert norm(id15) == IdCheck(id18, None, True)
    assert sex(id18) == ("1" if int(id15[14]) % 2 else "2")


@given(st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True)))
def test_numeric_cells_are_always_rejected(number):
    assert norm(number) == IdCheck(None, ids.MSG_NUMERIC_CELL, False)


@given(valid_ids())
def test_valid_ids_read_from_numeric_cells_are_rejected(id18):
    assume(id18.isdigit())
    for cell in (int(id18), float(id18), Decimal(id18)):
        assert norm(cell).error == ids.MSG_NUMERIC_CELL


@given(valid_ids())
def test_ids_printed_as_numbers_are_rejected(id18):
    assume(id18.isdigit())
    x = float(id18)
    for text in (f"{x:.14E}", repr(x), f"{x:.13e}", f"{id18}.0", f"{int(id18):,}"):
        result = norm(text)
        assert result.value is None
        assert "Excel存成数字" in result.error and "文本" in result.error, text


@given(valid_ids())
def test_birth_date_and_sex_read_the_number(id18):
    born = birth_date(id18)
    assert born.strftime("%Y%m%d") == id18[6:14]
    assert sex(id18) == ("1" if int(id18[16]) % 2 else "2")


@given(st.text(alphabet=DIGITS, min_size=17, max_size=17))
def test_check_character_matches_the_standard(first17):
    assert check_character(first17) == literal_check_character(first17)


@given(st.one_of(st.none(), st.text(), st.integers(), st.floats()))
def test_any_input_gives_a_value_or_an_error_never_an_exception(raw):
    result = norm(raw)
    assert (result.value is None) != (result.error is None)
    if result.value is not None:
        assert norm(result.value) == IdCheck(result.value, None, False)


# --- real-looking samples -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "sex_code", "born"),
    [
        ("11010519491231002X", "11010519491231002X", "2", date(1949, 12, 31)),
        ("11010519491231002x", "11010519491231002X", "2", date(1949, 12, 31)),
        ("320923199001011238", "320923199001011238", "1", date(1990, 1, 1)),
        ("440304198510176525", "440304198510176525", "2", date(1985, 10, 17)),
        ("310115197703150414", "310115197703150414", "1", date(1977, 3, 15)),
        ("510107200002290045", "510107200002290045", "2", date(2000, 2, 29)),
        ("320923189001010017", "320923189001010017", "1", date(1890, 1, 1)),
        (" １１０１０５ １９４９１２３１ ００２ｘ ", "11010519491231002X", "2", date(1949, 12, 31)),
        ("110105\u300019491231\t002X\n", "11010519491231002X", "2", date(1949, 12, 31)),
        ("110105-19491231-002X", "11010519491231002X", "2", date(1949, 12, 31)),
        ("11010519491231002×", "11010519491231002X", "2", date(1949, 12, 31)),
        ("'11010519491231002X", "11010519491231002X", "2", date(1949, 12, 31)),
        ('="11010519491231002X"', "11010519491231002X", "2", date(1949, 12, 31)),
        ("\ufeff110105\u200b19491231002X", "11010519491231002X", "2", date(1949, 12, 31)),
    ],
)
def test_real_looking_samples(raw, value, sex_code, born):
    result = norm(raw)
    assert result == IdCheck(value, None, False)
    assert sex(result.value) == sex_code
    assert birth_date(result.value) == born


def test_legacy_15_digit_sample():
    assert convert_15_to_18("320923900101123") == "320923199001011238"
    assert norm("320923 900101 123") == IdCheck("320923199001011238", None, True)


# --- one example per Chinese message ---------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000\u3000", "\t\n", "\u200b", "'"])
def test_missing(raw):
    assert norm(raw) == IdCheck(None, ids.MSG_MISSING, False)
    assert ids.MSG_MISSING.startswith("缺少身份证号")


@pytest.mark.parametrize("raw", [320923199001011238, 3.20923199001011e17, 320923900101123, 0, 0.0])
def test_numeric_cell(raw):
    error = norm(raw).error
    assert error == ids.MSG_NUMERIC_CELL
    assert "数字" in error and "丢失" in error and "“文本”" in error and "重新录入" in error


@pytest.mark.parametrize(
    "raw",
    [
        "3.20923199001011E+17",
        "3.2092319900101e17",
        "3.20923E+17",
        "３.２０９２３Ｅ＋１７",
        "320923199001011238.0",
        "320923199001011000.00",
        "320,923,199,001,011,000",
    ],
)
def test_number_printed_as_text(raw):
    error = norm(raw).error
    assert error == ids.MSG_NUMERIC_TEXT.format(shown=raw)
    assert f"「{raw}」" in error and "“文本”" in error and "重新录入" in error


@pytest.mark.parametrize(
    ("raw", "kind"), [(True, "逻辑值"), (date(2020, 1, 1), "日期"), (object(), "object")]
)
def test_not_text(raw, kind):
    error = norm(raw).error
    assert kind in error and "“文本”" in error


def test_not_an_id():
    assert norm(" 暂无 ").error == "身份证号一栏填的「暂无」不是身份证号，请填写18位公民身份号码"
    assert "「" + "无" * 30 + "…」" in norm("无" * 50).error  # a pasted paragraph is cut short


def test_illegal_characters():
    error = norm("32O923199001011238").error
    assert error.startswith("身份证号含有非法字符「O」")
    assert "最后一位可以是X" in error and "O应为数字0" in error
    assert norm("320923/199001011238").error.startswith("身份证号含有非法字符「/」")
    assert "「张三」" in norm("张三320923199001011238").error
    assert "「Ａ」" in norm("32092319900101123Ａ").error


@pytest.mark.parametrize("raw", ["1101051949123100X2", "X1010519491231002X", "11010549123100X"])
def test_x_not_last(raw):
    assert norm(raw).error == ids.MSG_X_POSITION


@pytest.mark.parametrize(
    ("raw", "n", "note"),
    [
        ("11010519491231002", 17, False),
        ("1101051949123100212", 19, False),
        ("123", 3, False),
        ("1101051949123100X", 17, False),
        ("110105 1949 1231 002", 17, True),
        ("110105-19491231-0021X", 19, True),
    ],
)
def test_wrong_length(raw, n, note):
    error = norm(raw).error
    assert error.startswith(f"身份证号应为18位（旧证为15位），当前为{n}位")
    assert ("不计空格和分隔符" in error) is note
    assert "多录或漏录" in error


@pytest.mark.parametrize("ymd", ["19900230", "19980229", "19001329", "19901300", "19900100"])
def test_impossible_birth_date(ymd):
    first17 = "320923" + ymd + "123"
    error = norm(first17 + check_character(first17)).error
    assert error == f"身份证号第7至14位的出生日期「{ymd}」不是有效日期，请对照身份证原件核对"


def test_birth_date_in_the_future_or_before_1890():
    assert norm("320923202611240016").error == (
        "身份证号第7至14位的出生日期「20261124」晚于今天，请对照身份证原件核对"
    )
    assert norm("320923188912310016").error == (
        "身份证号第7至14位的出生日期「18891231」早于1890年，请对照身份证原件核对"
    )


def test_birth_today_is_accepted_and_tomorrow_is_not():
    for day, ok in ((TODAY, True), (TODAY - timedelta(1), True), (TODAY + timedelta(1), False)):
        first17 = "320923" + day.strftime("%Y%m%d") + "001"
        assert norm(first17 + check_character(first17)).ok is ok


def test_today_defaults_to_the_current_date():
    first17 = "320923" + date.today().strftime("%Y%m%d") + "001"
    assert normalize_id_number(first17 + check_character(first17)).ok
    first17 = "320923" + (date.today() + timedelta(days=1)).strftime("%Y%m%d") + "001"
    assert "晚于今天" in normalize_id_number(first17 + check_character(first17)).error


def test_impossible_birth_date_in_15_digit_id():
    assert norm("110105000229002").error == (
        "15位旧身份证号第7至12位的出生日期「000229」不是有效日期，请对照身份证原件核对"
    )
    assert norm("110105961301002").error.startswith("15位旧身份证号第7至12位的出生日期「961301」")


def test_wrong_check_character():
    error = norm("11010519491231003X").error
    assert error == "身份证号校验位错误，可能有数字录入错误，请对照身份证原件逐位核对"
    assert "校验位错误，可能有数字录入错误" in norm("110105194912310020").error


def test_wrong_check_character_ending_in_000_hints_at_excel():
    # What a numeric cell turned back into text looks like: the last 3 digits became 0.
    first17 = "44030419851017600"
    assert check_character(first17) != "0"
    error = norm(first17 + "0").error
    assert error.startswith(ids.MSG_CHECK) and "末尾是000" in error and "“文本”" in error


# --- the helpers' contracts -------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["1101051949123100", "110105194912310021", "1101051949123100a", ""])
def test_check_character_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        check_character(bad)


@pytest.mark.parametrize(
    "bad", ["11010549123100", "1101054912310021", "11010549123100X", "110105000229002", "１" * 15]
)
def test_convert_15_to_18_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        convert_15_to_18(bad)


@pytest.mark.parametrize("bad", ["11010519491231002", "11010519490230002X", "1101051949123100XX"])
def test_birth_date_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        birth_date(bad)


@pytest.mark.parametrize("bad", ["110105491231002", "x1010519491231002X", None])
def test_sex_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        sex(bad)


def test_id_check_is_frozen():
    result = norm("11010519491231002X")
    with pytest.raises(AttributeError):
        result.value = "x"
