"""The comparison (比对) of one region for one insurance year, set-based.

Who must be insured (应参保人员): the persons of the region on the household register or the
resident list, less those an approved closure excluded (deceased, settled abroad, covered by
another scheme: person.excluded_reason). Who is insured for year N: a person holding a normal
enrollment record whose period overlaps N's coverage period (the calendar year N) and that
applies to them (no voucher, or vouched by a region holding the person: 异地参保).

What happens to the files, every step a row of the workflow table (workflow/transitions.py,
by_comparison): an uninsured person without a file for N gets one (`open`) — unless excluded, or
an employee in the 3-month grace after their contributions stopped; an insured person's open file
is closed as enrolled (`confirm_enrolled`); a file the comparison closed reopens when the coverage
lapses (`reopen`). A person with no file for N whose latest file of an earlier year is still open
gets that file carried into N (`carry_over`: state, assignee and history kept, carried_from_year
set) and a declined one comes back for the new collection period (`return_declined`: to the
worker who held it, else the pool); the file is moved, never copied ((person_id, year) is unique),
and an insured person's carried file is then closed as enrolled. Closed files of earlier years
stay in their year; a person uninsured again gets a new file for N. A person who already has a
file of a later year than N is left to that year's comparisons.

Every run records per person what changed and why (person_change, cause "comparison", batch_id =
the run) and is idempotent: a second run over unchanged lists changes nothing. Before it changes
anything the job checks the figures (comparisons/guard.py) and refuses a run that looks like the
lists' fault unless the user confirmed it.
"""

from datetime import date

from flask import abort
from sqlalchemy import Date, DateTime, bindparam, select, text

from permissions import can, scope_for
from portal.audit import operations as audit
from portal.comparisons import guard as guards
from portal.comparisons.models import ComparisonRun
from portal.database import code_list, raise_work_mem, restore_work_mem
from portal.extensions import db
from portal.jobs import queue
from portal.persons.government_paid import is_government_paid
from portal.persons.moves import follow_persons
from portal.regions import codes as region_codes
from portal.regions.models import Region
from portal.timeutil import utcnow
from portal.workflow.transitions import BY_ACTION, NO_FILE, sources
from portal.years.periods import Calendar
from portal.years.selection import current_year

LAPSE_MONTHS = 3
COVERAGE = Calendar()  # the coverage period does not depend on the collection period's dates
WORK = "comparison_work"
# The length of a township's prefix (PPCCDDTTT): the coverage per township groups by it.
TOWNSHIP_PREFIX = region_codes.PREFIX_LENGTH[4]


class ComparisonRefused(Exception):
    """A run refused before any work, with a Chinese message."""


def months_before(day: date, months: int) -> date:
    month = day.month - months
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)


def start_comparison(
    actor, region: Region, year: int | None = None, *, force: bool = False, confirms=None
) -> ComparisonRun:
    """Queue a comparison of one region (no commit). `year` defaults to the insurance year whose
    collection period is open; `force` runs it over the guard's findings (the user confirmed,
    `confirms` being the refused run they confirmed from the page)."""
    if region is None or not can(actor, "comparison.run", region.code):
        raise ComparisonRefused("您无权对该区划运行比对。")
    run = ComparisonRun(
        region_code=region.code,
        year=year or current_year(),
        user_id=actor.id,
        state="queued",
        forced=force,
    )
    db.session.add(run)
    db.session.flush()
    job = queue.enqueue("comparison", {"run_id": run.id}, region_code=region.code, user=actor)
    run.job_id = job.id
    detail = {"year": run.year}
    if force:
        detail["forced"] = True
        if confirms is not None:
            detail["confirms_run"] = confirms.id
            detail["checks"] = [c["code"] for c in confirms.checks or []]
    audit.record(
        "comparison.run",
        actor=actor,
        target_type="comparison_run",
        target_id=run.id,
        target_label=region.name,
        region_code=region.code,
        detail=detail,
    )
    return run


def runs_query(actor):
    scope = scope_for(actor, "comparison.run")
    return (
        select(ComparisonRun)
        .where(scope.clause(ComparisonRun.region_code))
        .order_by(ComparisonRun.id.desc())
    )


def get_run_or_404(run_id: int, actor) -> ComparisonRun:
    run = db.session.scalar(runs_query(actor).where(ComparisonRun.id == run_id).order_by(None))
    if run is None:
        abort(404)
    return run


def coverage_of(run: ComparisonRun) -> float | None:
    """Insured ÷ must-insure (the base persons less the excluded) of a run."""
    return guards.coverage(run.insured, run.persons - run.excluded)


def previous_run(run: ComparisonRun) -> ComparisonRun | None:
    """The region's last successful run for the same year before `run`."""
    return db.session.scalar(
        select(ComparisonRun)
        .where(
            ComparisonRun.region_code == run.region_code,
            ComparisonRun.year == run.year,
            ComparisonRun.state == "succeeded",
            ComparisonRun.id < run.id,
        )
        .order_by(ComparisonRun.id.desc())
        .limit(1)
    )


def _run_failed(job, message):
    run = db.session.scalar(select(ComparisonRun).where(ComparisonRun.job_id == job.id))
    if run is not None:
        run.state, run.message, run.finished_at = "failed", message, utcnow()


TYPED_PARAMETERS = {"now": DateTime, "year_start": Date, "year_end": Date, "cutoff": Date}


def _sql(statement: str):
    """A statement whose date parameters are bound the way the ORM stores dates."""
    typed = [
        bindparam(name, type_=kind())
        for name, kind in TYPED_PARAMETERS.items()
        if f":{name}" in statement
    ]
    return text(statement).bindparams(*typed)


RESULT_FIELDS = (
    "persons",
    "excluded",
    "insured",
    "opened",
    "closed",
    "reopened",
    "carried",
    "returned",
    "mismatched",
    "moved",
)


@queue.job_kind("comparison", on_failure=_run_failed)
def run_comparison(job, progress) -> str:
    """The job: the guard, then set-based statements, all in one transaction."""
    run = db.session.get(ComparisonRun, job.payload["run_id"])
    region = db.session.get(Region, run.region_code)
    previous = previous_run(run)
    guard = guards.Guard(
        forced=run.forced,
        previous_run_id=previous.id if previous else None,
        previous_coverage=coverage_of(previous) if previous else None,
    )
    result = compare(
        region, run.year, run_id=run.id, user_id=run.user_id, today=date.today(), guard=guard
    )
    for name in RESULT_FIELDS:
        setattr(run, name, result[name])
    run.checks, run.townships, run.finished_at = result["checks"], result["townships"], utcnow()
    must = run.persons - run.excluded
    rate = guards.percent(coverage_of(run))
    if result["refused"]:
        run.state = "refused"
        run.message = (
            f"比对未运行：发现 {len(run.checks)} 项异常（应参保 {must} 人，参保 {run.insured} 人，"
            f"参保率 {rate}），数据未作任何修改。请核实名单；确认无误后可确认并重新运行。"
        )
    else:
        run.state = "succeeded"
        run.message = (
            f"比对 {run.persons} 人（排除 {run.excluded}，应参保 {must}，已参保 {run.insured}，"
            f"参保率 {rate}）：新建未参保档案 {run.opened}，因参保关闭 {run.closed}，"
            f"重新打开 {run.reopened}，结转上年度 {run.carried}，拒保人员重新走访 {run.returned}，"
            f"随人迁移 {run.moved}；身份信息不一致 {run.mismatched} 人。"
        )
        if run.forced and run.checks:
            run.message = "（已确认异常后运行）" + run.message
    progress(1, 1, run.message, force=True)
    return run.message


# --- SQL from the workflow table --------------------------------------------------------------


def in_sources(action: str, state: str) -> str:
    """SQL: `state` (a file's state, NULL for no file) is a source of the workflow `action`."""
    allowed = sources(action)
    terms = []
    if allowed - {NO_FILE}:
        terms.append(f"{state} IN ({code_list(allowed - {NO_FILE})})")
    if NO_FILE in allowed:
        terms.append(f"{state} IS NULL")
    return "(" + " OR ".join(terms) + ")" if terms else "(1 = 0)"


def target_of(action: str, assignee: str, state: str) -> str:
    """SQL: the state the workflow `action` leads to, for a file with `assignee` in `state`."""
    transition = BY_ACTION[action]
    if transition.target is None:
        return state
    if transition.target_if_assigned is None:
        return f"'{transition.target}'"
    return (
        f"CASE WHEN {assignee} IS NULL THEN '{transition.target}' "
        f"ELSE '{transition.target_if_assigned}' END"
    )


# The comparison's transitions: carrying an earlier year's file in, then one state change.
CARRYING = ("carry_over", "return_declined")
CHANGING = ("open", "confirm_enrolled", "reopen")


def _work_table(gov: str, local_date_of_exclusion: str) -> str:
    """The work table: one row per person of the region with what the run does to them.

    Built in layers (each a derived table over the one before; the databases flatten them):
    - the person, the records that apply to them, their file of the year, and the latest file
      of an earlier year (unless they have a file of a later year: `ahead`);
    - `carry`: the transition that brings the earlier file into the year, if any;
    - the file the run acts on (this year's, or the carried one) and its state after carrying;
    - `action`: the state change of the year (open, confirm_enrolled, reopen) or none.
    """
    base = (
        "SELECT r.person_id, r.region_code, r.old_status, r.old_scheme, r.old_region, "
        "r.old_excluded, r.scheme, r.insured_region, r.covered, r.grace, "
        "CASE WHEN r.lapsed = 1 THEN 'lapsed' ELSE 'uninsured' END AS file_type, r.mismatched, "
        # Excluded, unless a normal record began after the exclusion: alive and insured after all.
        "CASE WHEN r.old_excluded IS NOT NULL AND r.resumed = 0 THEN 1 ELSE 0 END AS excluded, "
        "CASE WHEN r.old_excluded IS NOT NULL AND r.resumed = 1 THEN 1 ELSE 0 END AS resumed, "
        "r.government_paid, "
        "f.id AS this_id, f.state AS this_state, f.close_cause AS this_cause, "
        "f.assignee_id AS this_assignee, "
        "pf.id AS earlier_id, pf.year AS earlier_year, pf.state AS earlier_state, "
        "pf.assignee_id AS earlier_assignee, "
        "CASE WHEN other.year > :year THEN 1 ELSE 0 END AS ahead "
        f"FROM ({_persons_and_records(gov, local_date_of_exclusion)}) r "
        "LEFT JOIN person_file f ON f.person_id = r.person_id AND f.year = :year "
        "LEFT JOIN (SELECT person_id, MAX(year) AS year FROM person_file WHERE year <> :year "
        "GROUP BY person_id) other ON other.person_id = r.person_id "
        "LEFT JOIN person_file pf ON pf.person_id = r.person_id AND pf.year = other.year "
        "AND other.year < :year"
    )
    carry = " ".join(
        f"WHEN {in_sources(action, 'b.earlier_state')} THEN '{action}'" for action in CARRYING
    )
    carrying = (
        "SELECT b.*, CASE WHEN b.this_id IS NULL AND b.earlier_id IS NOT NULL AND b.ahead = 0 "
        f"AND b.excluded = 0 THEN CASE {carry} END END AS carry FROM ({base}) b"
    )
    carried_state = " ".join(
        f"WHEN '{action}' THEN {target_of(action, 'c.earlier_assignee', 'c.earlier_state')}"
        for action in CARRYING
    )
    acting = (
        "SELECT c.*, "
        "CASE WHEN c.this_id IS NOT NULL THEN c.this_id "
        "WHEN c.carry IS NOT NULL THEN c.earlier_id END AS file_id, "
        "CASE WHEN c.this_id IS NOT NULL THEN c.this_state "
        "WHEN c.carry IS NOT NULL THEN c.earlier_state END AS file_state, "
        "CASE WHEN c.this_id IS NOT NULL THEN c.this_assignee "
        "WHEN c.carry IS NOT NULL THEN c.earlier_assignee END AS file_assignee, "
        "CASE WHEN c.carry IS NOT NULL THEN c.earlier_year END AS from_year, "
        f"CASE c.carry {carried_state} END AS carried_state "
        f"FROM ({carrying}) c"
    )
    # The state the file is in once carried (or this year's file's state; NULL: no file).
    state = "COALESCE(d.this_state, d.carried_state)"
    uninsured = "d.covered = 0 AND d.grace = 0 AND d.excluded = 0"
    action = (
        "CASE "
        f"WHEN d.covered = 1 AND {in_sources('confirm_enrolled', state)} THEN 'confirm_enrolled' "
        f"WHEN {uninsured} AND d.ahead = 0 AND d.carry IS NULL "
        f"AND {in_sources('open', 'd.this_state')} THEN 'open' "
        f"WHEN {uninsured} AND d.this_cause = 'comparison' "
        f"AND {in_sources('reopen', 'd.this_state')} THEN 'reopen' "
        "END"
    )
    deciding = (
        f"SELECT d.*, {action} AS action, "
        "CASE WHEN d.covered = 1 THEN 'insured' ELSE 'uninsured' END AS new_status "
        f"FROM ({acting}) d"
    )
    # The file's state after the run (NULL: no file, or not changed and not carried).
    changes = " ".join(
        f"WHEN '{a}' THEN {target_of(a, 'x.file_assignee', 'x.file_state')}" for a in CHANGING
    )
    return (
        f"SELECT x.*, CASE x.action {changes} ELSE x.carried_state END AS new_state "
        f"FROM ({deciding}) x"
    )


def compare(
    region: Region,
    year: int,
    *,
    run_id: int,
    user_id: int | None,
    today: date,
    guard: guards.Guard | None = None,
) -> dict:
    """Compare the register of one region with the enrollment records (no commit).

    One pass builds a work table (one row per person of the region: covered this year or not,
    excluded, lapsed or in the 3-month grace, the file and what happens to it); the figures per
    township come from it with one grouped query. With a `guard`, its findings are checked
    there: a refused run (result["refused"]) drops the work table and changes nothing. Otherwise
    the history, the person update, the file updates (carry, confirm, reopen), the new files and
    the moves are each one statement over the work table.
    """
    connection = db.session.connection()
    postgres = connection.dialect.name == "postgresql"
    params = {
        "lo": region.prefix.ljust(12, "0"),
        "hi": region.prefix.ljust(12, "9"),
        "year": year,
        "run": run_id,
        "user": user_id,
        "now": utcnow(),
        # The days insurance year `year` covers (years/periods.py, the one definition).
        "year_start": COVERAGE.coverage_period(year)[0],
        "year_end": COVERAGE.coverage_period(year)[1],
        "cutoff": months_before(today, LAPSE_MONTHS),
        "prefix": f"{year}-",
        **{f"space{index}": space for index, space in enumerate(NAME_SPACES)},
    }

    def execute(statement: str) -> int:
        return connection.execute(_sql(statement), params).rowcount

    # The local (China) date of an exclusion: a record that begins after it clears it.
    if postgres:
        exclusion_day = "CAST(p.excluded_at + INTERVAL '8 hours' AS DATE)"
    else:
        exclusion_day = "DATE(p.excluded_at, '+8 hours')"
    work_mem = raise_work_mem(connection)  # hash joins of a million rows
    execute(f"DROP TABLE IF EXISTS {WORK}")
    execute(
        f"CREATE TEMPORARY TABLE {WORK} AS {_work_table(is_government_paid('p'), exclusion_day)}"
    )
    if postgres:
        # A temporary table has no statistics until analyzed: those of the columns the
        # statements below join and filter on are enough (the others only cost time).
        execute(f"ANALYZE {WORK} (person_id, file_id, action, carry, resumed, old_status)")
    townships, totals = township_figures(connection, params)
    result = {name: totals.get(name, 0) for name in RESULT_FIELDS}
    result |= {"townships": townships, "checks": None, "refused": False, "resumed": 0}
    if guard is not None:
        result["checks"] = guards.findings(year, totals, townships, guard)
        if result["checks"] and not guard.forced:
            execute(f"DROP TABLE {WORK}")
            restore_work_mem(connection, work_mem)
            result["refused"] = True
            return result
    _apply(execute, postgres)
    result["resumed"] = totals["resumed"]
    execute(f"DROP TABLE {WORK}")
    # Open files whose person lives elsewhere now follow them (persons/moves.py).
    result["moved"] = follow_persons(
        connection,
        cause="comparison",
        batch_id=run_id,
        user_id=user_id,
        region_prefix=region.prefix,
    )
    restore_work_mem(connection, work_mem)
    from portal.stats import activity  # (stats/ reads this module's rules)
    from portal.stats import maintain as stats

    stats.refresh(connection, prefix=region.prefix, years=[year])  # the figures
    activity.refresh_conversions(connection, prefix=region.prefix)  # closed and reopened files
    return result


def _apply(execute, postgres: bool) -> None:
    """The writes, each one statement over the work table."""
    distinct = "IS DISTINCT FROM" if postgres else "IS NOT"
    status_changed = f"w.old_status {distinct} w.new_status"
    state_changed = f"w.new_state IS NOT NULL AND w.new_state {distinct} w.file_state"
    array, strip = (
        ("jsonb_build_array", "jsonb_strip_nulls(jsonb_build_object(")
        if postgres
        else ("json_array", "json_patch('{}', json_object(")
    )
    changes = (
        f"{strip}"
        f"'insured_status', CASE WHEN {status_changed} "
        f"THEN {array}(w.old_status, w.new_status) END, "
        f"'file_state', CASE WHEN {state_changed} THEN {array}(w.file_state, w.new_state) END, "
        f"'year', CASE WHEN w.carry IS NOT NULL "
        f"THEN {array}(w.from_year, CAST(:year AS INTEGER)) END, "
        f"'excluded_reason', CASE WHEN w.resumed = 1 "
        f"THEN {array}(w.old_excluded, CAST(NULL AS VARCHAR(16))) END))"
    )
    # A person's first comparison (insured status still unknown, as after the import) that
    # only judges them, or opens their file, writes no history row: all of them would be alike,
    # and a first comparison of a city judges a million persons. A file it opens keeps the run
    # (opened_by_run_id) and the history shows the change from there (persons/queries.history_of).
    first_opening = "w.action = 'open' AND w.old_status = 'unknown'"
    first_judgment = (
        "w.old_status = 'unknown' AND COALESCE(w.action, 'open') = 'open' "
        "AND w.carry IS NULL AND w.resumed = 0"
    )
    execute(
        "INSERT INTO person_change (person_id, region_code, at, user_id, cause, batch_id, "
        f"changes) SELECT w.person_id, w.region_code, :now, :user, 'comparison', :run, {changes} "
        f"FROM {WORK} w WHERE ({status_changed} OR ({state_changed}) OR w.carry IS NOT NULL "
        f"OR w.resumed = 1) AND NOT ({first_judgment})"
    )
    execute(
        "UPDATE person SET insured_status = w.new_status, insured_scheme = w.scheme, "
        "insured_region_code = w.insured_region, "
        "excluded_reason = CASE WHEN w.resumed = 1 THEN NULL ELSE person.excluded_reason END, "
        "excluded_at = CASE WHEN w.resumed = 1 THEN NULL ELSE person.excluded_at END, "
        f"version = person.version + 1, updated_at = :now FROM {WORK} w "
        f"WHERE person.id = w.person_id AND (w.old_status {distinct} w.new_status "
        f"OR w.old_scheme {distinct} w.scheme OR w.old_region {distinct} w.insured_region "
        "OR w.resumed = 1)"
    )
    # Carried in: the year changes, the state as the row says (kept, or back to work).
    carried_from = " OR ".join(
        f"(w.carry = '{a}' AND {in_sources(a, 'person_file.state')})" for a in CARRYING
    )
    execute(
        "UPDATE person_file SET year = :year, "
        "carried_from_year = COALESCE(person_file.carried_from_year, person_file.year), "
        f"state = w.carried_state, version = person_file.version + 1 FROM {WORK} w "
        f"WHERE person_file.id = w.file_id AND ({carried_from})"
    )
    confirm = BY_ACTION["confirm_enrolled"]
    execute(
        f"UPDATE person_file SET state = '{confirm.target}', closed_at = :now, "
        "close_cause = 'comparison', closed_by_run_id = :run, "
        "credited_user_id = COALESCE(last_visitor_id, assignee_id), "
        f"version = person_file.version + 1 FROM {WORK} w "
        "WHERE person_file.id = w.file_id AND w.action = 'confirm_enrolled' "
        f"AND {in_sources('confirm_enrolled', 'person_file.state')}"
    )
    execute(
        f"UPDATE person_file SET state = {target_of('reopen', 'assignee_id', 'state')}, "
        "closed_at = NULL, close_cause = NULL, closed_by_run_id = NULL, "
        "file_type = CASE WHEN w.file_type = 'lapsed' THEN 'lapsed' ELSE person_file.file_type "
        f"END, version = person_file.version + 1 FROM {WORK} w "
        "WHERE person_file.id = w.file_id AND w.action = 'reopen' "
        f"AND {in_sources('reopen', 'person_file.state')}"
    )
    execute(
        "INSERT INTO person_file (person_id, region_code, year, file_number, file_type, "
        "government_paid, filing_flag, state, opened_at, opened_by_run_id, version) "
        "SELECT w.person_id, w.region_code, :year, "
        f"{_concat(':prefix', 'w.region_code', chr(39) + '-' + chr(39), _as_text('w.person_id'))}"
        f", w.file_type, w.government_paid, TRUE, {target_of('open', 'NULL', 'NULL')}, :now, "
        f"CASE WHEN {first_opening} THEN :run END, 1 FROM {WORK} w "
        "WHERE w.action = 'open' "
        # In the order of the file number (and of the region index): each index is filled
        # near its end instead of at a million random places (16 s instead of 24 s).
        "ORDER BY w.region_code, w.person_id"
    )


def township_figures(connection, params: dict) -> tuple[list[dict], dict]:
    """Per township of the work table (one grouped query): persons, excluded, insured (of those
    who must be), what the run opens; and the totals of the region, with the other counts."""
    township = f"SUBSTR(region_code, 1, {TOWNSHIP_PREFIX})"
    insured = "covered = 1 AND excluded = 0"
    rows = connection.execute(
        _sql(
            f"SELECT {township} AS township, COUNT(*), SUM(excluded), "
            f"SUM(CASE WHEN {insured} THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN action = 'open' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN action = 'confirm_enrolled' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN action = 'reopen' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN carry = 'carry_over' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN carry = 'return_declined' THEN 1 ELSE 0 END), "
            "SUM(mismatched), SUM(resumed) "
            f"FROM {WORK} GROUP BY {township} ORDER BY {township}"
        ),
        params,
    ).all()
    codes = [region_codes.pad(row[0]) for row in rows]
    names = dict(
        db.session.execute(select(Region.code, Region.name).where(Region.code.in_(codes))).all()
    )
    names_of = ("persons", "excluded", "insured", "opened", "closed", "reopened", "carried")
    names_of += ("returned", "mismatched", "resumed")
    totals = dict.fromkeys(names_of, 0)
    townships = []
    for code, row in zip(codes, rows, strict=True):
        figures = dict(zip(names_of, (int(value or 0) for value in row[1:]), strict=True))
        for name, value in figures.items():
            totals[name] += value
        townships.append(
            {
                "code": code,
                "name": names.get(code, code),
                "persons": figures["persons"],
                "excluded": figures["excluded"],
                "insured": figures["insured"],
                "opened": figures["opened"],
            }
        )
    totals["must_insure"] = totals["persons"] - totals["excluded"]
    return townships, totals


# --- which records count for whom -------------------------------------------------------------


def _population(alias: str) -> str:
    """The persons a comparison of the region judges: on the register or the resident list."""
    return (
        f"({alias}.in_register OR {alias}.in_resident_list) "
        f"AND {alias}.region_code BETWEEN :lo AND :hi"
    )


# A record applies to a person when the insured place's own office imported it (no voucher) or
# the region that vouched for it holds the person (异地参保: enrollment.vouched_prefix). Decided
# here, when the comparison runs: the order the lists came in does not matter.
APPLIES = (
    "(e.vouched_prefix IS NULL OR "
    "SUBSTR(p.region_code, 1, LENGTH(e.vouched_prefix)) = e.vouched_prefix)"
)
# Insured in insurance year N: a normal record whose period overlaps N's coverage period
# (years.periods.Calendar.coverage_period: the calendar year).
COUNTING = (
    "e.status = 'normal' AND e.start_date <= :year_end "
    "AND (e.end_date IS NULL OR e.end_date >= :year_start)"
)
# The whitespace names.normalize_name removes, for the SQL side of the same comparison (the
# extract's names are stored normalised; the register's are trimmed only).
NAME_SPACES = (" ", "\t", "\n", "\r", "\u00a0", "\u3000")


def _normalized_name(column: str) -> str:
    expression = column
    for index in range(len(NAME_SPACES)):
        expression = f"REPLACE({expression}, :space{index}, '')"
    return expression


def _persons_and_records(gov: str, exclusion_day: str) -> str:
    """One row per person of the region (one scan of person, one join with the records that
    apply to them, grouped by person): covered this year, its scheme and insured place (one in
    the person's own county first), lapsed or in the 3-month grace (an employee whose
    contributions stopped), whether a record names the person otherwise than the register
    (身份信息不一致), and whether a normal record began after the day the person was excluded
    (`exclusion_day`, SQL: the local date of p.excluded_at)."""
    counting = f"CASE WHEN {COUNTING} THEN"
    stopped = "e.scheme = 'employee' AND e.status <> 'normal' AND e.end_date"
    own_county = "SUBSTR(e.region_code, 1, 6) = SUBSTR(p.region_code, 1, 6)"
    # Grouped by the primary key: the person's own columns may be selected as they are.
    return (
        "SELECT p.id AS person_id, p.region_code, p.insured_status AS old_status, "
        "p.insured_scheme AS old_scheme, p.insured_region_code AS old_region, "
        f"p.excluded_reason AS old_excluded, {gov} AS government_paid, "
        f"MAX({counting} 1 ELSE 0 END) AS covered, "
        f"MIN({counting} e.scheme END) AS scheme, "
        f"COALESCE(MIN({counting} CASE WHEN {own_county} THEN e.region_code END END), "
        f"MIN({counting} e.region_code END)) AS insured_region, "
        f"MAX(CASE WHEN {stopped} < :cutoff THEN 1 ELSE 0 END) AS lapsed, "
        f"MAX(CASE WHEN {stopped} >= :cutoff THEN 1 ELSE 0 END) AS grace, "
        "MAX(CASE WHEN e.name <> '' AND e.name <> p.name "
        f"AND e.name <> {_normalized_name('p.name')} THEN 1 ELSE 0 END) AS mismatched, "
        "MAX(CASE WHEN e.status = 'normal' AND p.excluded_at IS NOT NULL "
        f"AND e.start_date > {exclusion_day} THEN 1 ELSE 0 END) AS resumed "
        f"FROM person p LEFT JOIN enrollment e ON e.id_number = p.id_number AND {APPLIES} "
        f"WHERE {_population('p')} GROUP BY p.id"
    )


def _concat(*parts: str) -> str:
    return " || ".join(parts)


def _as_text(expression: str) -> str:
    return f"CAST({expression} AS VARCHAR(20))"
