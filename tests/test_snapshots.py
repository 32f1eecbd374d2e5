"""The daily snapshot (portal/stats/snapshots.py) and the trend API (portal/stats/trends.py):
parents are the sums of their children, a second run adds nothing, a missed day is filled once,
old community rows keep the week's last day only, and a trend ends with today's live point."""

from datetime import date, timedelta

import pytest
from sqlalchemy import Date, text

from portal.extensions import db
from portal.stats.counts import REASON_CODES, STATE_CODES
from portal.stats.models import TREND_COUNTS
from portal.stats.snapshots import KEEP_DAILY_DAYS, take_snapshots
from portal.stats.trends import trend

TODAY = date(2026, 12, 2)  # insurance year 2027 (its collection period opened on 1 September)
YEAR = 2027
XINGFU = "320923001001"  # 兴阜居委会, 阜城街道, 阜宁县
XINSHENG = "320923001002"  # 新盛居委会, 阜城街道
WUTAN = "320923002001"  # 吴滩街道
TINGHU = "320902001001"  # 亭湖区
FUNING = "320923000000"
FUCHENG = "320923001000"
YANCHENG = "320900000000"
JIANGSU = "320000000000"


def _figures(code: str, year: int = YEAR, *, persons: int, insured: int, opened=(0, 0)) -> None:
    """A maintained community_figures row: `opened` = open files of two reasons."""
    columns = {
        "year": year,
        "region_code": code,
        "persons": persons,
        "excluded": 1,
        "insured": insured,
        "government_paid": 2,
        "government_paid_insured": 1,
        "e_credential": insured // 2,
        f"open_{REASON_CODES[0]}": opened[0],
        f"open_{REASON_CODES[-1]}": opened[1],
        f"files_{STATE_CODES[0]}": opened[0] + opened[1],
        f"files_{STATE_CODES[-1]}": 3,
    }
    names = ", ".join(columns)
    binds = ", ".join(f":{name}" for name in columns)
    db.session.execute(
        text(
            f"INSERT INTO community_figures (refreshed_at, {names}) "
            f"VALUES (CURRENT_TIMESTAMP, {binds}) ON CONFLICT (year, region_code) DO UPDATE SET "
            + ", ".join(f"{name} = excluded.{name}" for name in columns)
        ),
        columns,
    )


def _activity(code: str, day: date, visits: int, conversions: int) -> None:
    db.session.execute(
        text(
            "INSERT INTO community_activity (day, region_code, visits, conversions) "
            "VALUES (:day, :code, :visits, :conversions)"
        ),
        {"day": day, "code": code, "visits": visits, "conversions": conversions},
    )


def _rows(where: str = "1 = 1", **params) -> dict[tuple[str, date], dict]:
    rows = db.session.execute(
        text(f"SELECT * FROM daily_figures WHERE {where}").columns(day=Date()), params
    ).mappings()
    return {(row["region_code"], row["day"]): dict(row) for row in rows}


def _snap(today: date, **kwargs) -> list[date]:
    return take_snapshots(db.session.connection(), today, **kwargs)


@pytest.fixture
def world(ctx):
    _figures(XINGFU, persons=100, insured=80, opened=(5, 2))
    _figures(XINSHENG, persons=50, insured=30, opened=(4, 0))
    _figures(WUTAN, persons=40, insured=39, opened=(0, 1))
    _figures(TINGHU, persons=10, insured=5)
    _figures(XINGFU, 2026, persons=100, insured=90)  # last year's row: not today's figures
    _activity(XINGFU, TODAY - timedelta(days=1), 7, 2)
    _activity(TINGHU, TODAY - timedelta(days=1), 1, 1)
    db.session.flush()


def test_a_snapshot_writes_every_region_and_parents_sum_their_children(world):
    yesterday = TODAY - timedelta(days=1)
    assert _snap(TODAY) == [yesterday]  # the first run ever: yesterday only
    rows = _rows()
    assert {day for _code, day in rows} == {yesterday}
    xingfu = rows[(XINGFU, yesterday)]
    assert (xingfu["year"], xingfu["persons"], xingfu["excluded"], xingfu["insured"]) == (
        YEAR,
        100,
        1,
        80,
    )
    assert (xingfu["open_files"], xingfu["files"], xingfu["e_credential"]) == (7, 10, 40)
    assert (xingfu["visits"], xingfu["conversions"], xingfu["filled"]) == (7, 2, False)
    funing = rows[(FUNING, yesterday)]
    assert (funing["persons"], funing["insured"], funing["open_files"]) == (190, 149, 12)
    assert (funing["visits"], funing["conversions"]) == (7, 2)
    assert rows[(JIANGSU, yesterday)]["persons"] == 200
    assert rows[(JIANGSU, yesterday)]["visits"] == 8
    # Every region of levels 1–4 has its row (zeros included); communities with figures only.
    regions = dict(db.session.execute(text("SELECT code, level FROM region")).all())
    upper = {code for code, level in regions.items() if level < 5}
    assert upper <= {code for code, _day in rows}
    assert {code for code, _ in rows if regions[code] == 5} == {XINGFU, XINSHENG, WUTAN, TINGHU}
    assert rows[("110000000000", yesterday)]["persons"] == 0
    # Each parent equals the sum of its children's rows of the day.
    children: dict[str, list[str]] = {}
    for code, parent in db.session.execute(text("SELECT code, parent_code FROM region")).all():
        children.setdefault(parent, []).append(code)
    for code in upper:
        for name in TREND_COUNTS:
            total = sum(
                rows.get((child, yesterday), {}).get(name, 0) for child in children.get(code, [])
            )
            assert rows[(code, yesterday)][name] == total, (code, name)


def test_running_twice_adds_nothing(world):
    _snap(TODAY)
    before = _rows()
    assert _snap(TODAY) == []
    _figures(XINGFU, persons=500, insured=400)  # figures that changed since: not taken again
    assert _snap(TODAY, day=TODAY - timedelta(days=1)) == []
    assert _rows() == before


def test_a_missed_day_is_filled_once_with_its_activity_exact(world):
    _snap(TODAY)
    later = TODAY + timedelta(days=4)  # the job did not run for three days
    _activity(XINGFU, TODAY + timedelta(days=1), 3, 1)
    _figures(XINGFU, persons=100, insured=85, opened=(2, 0))
    assert _snap(later) == [TODAY + timedelta(days=n) for n in range(4)]
    rows = _rows("region_code IN (:a, :b)", a=XINGFU, b=FUNING)
    filled = {day for (_code, day), row in rows.items() if row["filled"]}
    assert filled == {TODAY, TODAY + timedelta(days=1), TODAY + timedelta(days=2)}
    assert not rows[(XINGFU, later - timedelta(days=1))]["filled"]
    # Stock figures as at fill time, activity of the day itself.
    day1 = rows[(XINGFU, TODAY + timedelta(days=1))]
    assert (day1["insured"], day1["open_files"], day1["visits"]) == (85, 2, 3)
    assert rows[(XINGFU, TODAY)]["visits"] == 0
    assert rows[(XINGFU, TODAY - timedelta(days=1))]["insured"] == 80  # kept as it was
    count = len(_rows())
    assert _snap(later) == [] and len(_rows()) == count


def test_a_day_of_another_insurance_year_counts_that_years_figures(world):
    # 31 August 2026 belongs to insurance year 2026: its row counts the 2026 figures.
    aug31 = date(2026, 8, 31)
    assert _snap(date(2026, 9, 1)) == [aug31]
    row = _rows("region_code = :c", c=XINGFU)[(XINGFU, aug31)]
    assert (row["year"], row["insured"]) == (2026, 90)


def test_old_community_rows_keep_the_weeks_last_day_only(world):
    start = TODAY
    _snap(start)  # yesterday
    later = start + timedelta(days=KEEP_DAILY_DAYS + 20)
    days = _snap(later)
    assert len(days) == KEEP_DAILY_DAYS + 20
    cutoff = later - timedelta(days=KEEP_DAILY_DAYS)
    community = {day for (_code, day) in _rows("region_code = :c", c=XINGFU)}
    old = {day for day in community if day < cutoff}
    assert old and all(day.weekday() == 6 for day in old)  # Sundays
    first = start - timedelta(days=1)
    sundays = {
        first + timedelta(days=n)
        for n in range((cutoff - first).days)
        if (first + timedelta(days=n)).weekday() == 6
    }
    assert old == sundays
    assert {d for d in community if d >= cutoff} == {
        cutoff + timedelta(days=n) for n in range(KEEP_DAILY_DAYS)
    }
    # The regions above keep every day.
    county = {day for (_code, day) in _rows("region_code = :c", c=FUNING)}
    assert len(county) == KEEP_DAILY_DAYS + 21


def test_a_trend_reads_the_stored_days_and_ends_with_todays_live_point(world, monkeypatch):
    _snap(TODAY - timedelta(days=5))
    _snap(TODAY)  # fills the four days after the first
    _activity(XINGFU, TODAY, 4, 1)
    _figures(XINSHENG, persons=50, insured=45, opened=(1, 0))  # today's change: live only
    db.session.flush()
    points = trend(FUCHENG, today=TODAY)
    assert [p.day for p in points] == [TODAY - timedelta(days=n) for n in range(6, -1, -1)]
    assert [p.filled for p in points] == [False, True, True, True, True, False, False]
    assert points[-1].live and not any(p.live for p in points[:-1])
    stored = points[-2]
    assert (stored.must_insure, stored.insured, stored.open_files) == (148, 110, 11)
    assert stored.coverage == pytest.approx(110 / 148)
    live = points[-1]
    assert (live.must_insure, live.insured, live.open_files, live.visits) == (148, 125, 8, 4)
    assert live.year == YEAR
    # `days` counts today: the last 3 days are two stored ones and the live one.
    assert [p.day for p in trend(FUCHENG, days=3, today=TODAY)] == [
        TODAY - timedelta(days=2),
        TODAY - timedelta(days=1),
        TODAY,
    ]
    # A community's trend is its own rows.
    assert [p.insured for p in trend(XINGFU, today=TODAY)][-2:] == [80, 80]


def test_a_region_without_rows_has_only_its_live_point(ctx):
    points = trend(JIANGSU, today=TODAY)
    assert len(points) == 1 and points[0].live and points[0].coverage is None
    with pytest.raises(LookupError):
        trend("999999999999", today=TODAY)


def test_the_demo_history_is_a_plausible_year_and_the_snapshot_goes_on_from_it(ctx):
    import time

    from portal.demo_history import seed_demo_history

    started = time.monotonic()
    assert seed_demo_history(TODAY) > 0
    assert time.monotonic() - started < 5  # the demo's set-up stays quick
    assert seed_demo_history(TODAY) == 0  # once
    county = trend(FUNING, days=366, today=TODAY)
    assert county[0].day == TODAY - timedelta(days=365)
    assert county[-2].day == TODAY - timedelta(days=2)  # yesterday is the real snapshot's
    points = {p.day: p for p in county}
    sep1, dec1 = date(2026, 9, 1), date(2026, 12, 1)
    assert points[sep1].coverage < points[dec1 - timedelta(days=1)].coverage < 0.95
    assert points[date(2026, 8, 31)].coverage > points[sep1].coverage  # a new year begins
    assert points[dec1 - timedelta(days=1)].open_files > 0
    # Parents are the sums of their children, communities thinned like the snapshot's.
    day = TODAY - timedelta(days=30)
    rows = _rows("day = :day", day=day)
    funing_children = [c for c in rows if c[0].startswith("320923") and c[0].endswith("000")]
    townships = [c for c in funing_children if c[0] != FUNING]
    assert townships
    for name in TREND_COUNTS:
        assert rows[(FUNING, day)][name] == sum(rows[c][name] for c in townships)
        assert rows[(JIANGSU, day)][name] == rows[(YANCHENG, day)][name]
    old = _rows("region_code = :c AND day < :d", c=XINGFU, d=TODAY - timedelta(days=100))
    assert old and all(day.weekday() == 6 for _code, day in old)
    # The first real snapshot writes yesterday, not filled.
    assert take_snapshots(db.session.connection(), TODAY) == [TODAY - timedelta(days=1)]
