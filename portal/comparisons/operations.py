"""The comparison (比对), set-based: who in the household register has no normal enrollment in
the insurance year gets an uninsured file; whose open file now has one gets it closed as enrolled;
an employee whose contributions stopped more than 3 months ago is (re)opened as lapsed.

Every run records per person what changed and why (person_change, cause "comparison", batch_id =
the run) and is idempotent: a second run over unchanged lists changes nothing.
"""

from datetime import date

from flask import abort
from sqlalchemy import Date, DateTime, bindparam, select, text

from permissions import can, scope_for
from portal.audit import operations as audit
from portal.comparisons.models import ComparisonRun
from portal.database import raise_work_mem, restore_work_mem
from portal.extensions import db
from portal.jobs import queue
from portal.persons.codes import OPEN_FILE_STATES
from portal.persons.government_paid import is_government_paid
from portal.regions.models import Region
from portal.timeutil import utcnow

LAPSE_MONTHS = 3
WORK = "comparison_work"


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


def start_comparison(actor, region: Region, year: int | None = None) -> ComparisonRun:
    """Queue a comparison of one region (no commit)."""
    if region is None or not can(actor, "comparison.run", region.code):
        raise ComparisonRefused("您无权对该区划运行比对。")
    run = ComparisonRun(
        region_code=region.code, year=year or date.today().year, user_id=actor.id, state="queued"
    )
    db.session.add(run)
    db.session.flush()
    job = queue.enqueue("comparison", {"run_id": run.id}, region_code=region.code, user=actor)
    run.job_id = job.id
    audit.record(
        "comparison.run",
        actor=actor,
        target_type="comparison_run",
        target_id=run.id,
        target_label=region.name,
        region_code=region.code,
        detail={"year": run.year},
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


@queue.job_kind("comparison", on_failure=_run_failed)
def run_comparison(job, progress) -> str:
    """The job: five set-based statements in one transaction."""
    run = db.session.get(ComparisonRun, job.payload["run_id"])
    region = db.session.get(Region, run.region_code)
    result = compare(region, run.year, run_id=run.id, user_id=run.user_id, today=date.today())
    run.persons, run.insured = result["persons"], result["insured"]
    run.opened, run.closed, run.reopened = result["opened"], result["closed"], result["reopened"]
    run.mismatched = result["mismatched"]
    run.state, run.finished_at = "succeeded", utcnow()
    run.message = (
        f"比对 {run.persons} 人（已参保 {run.insured}）：新建未参保档案 {run.opened}，"
        f"因参保关闭 {run.closed}，重新打开 {run.reopened}。"
    )
    progress(1, 1, run.message, force=True)
    return run.message


def compare(
    region: Region, year: int, *, run_id: int, user_id: int | None, today: date
) -> dict[str, int]:
    """Compare the register of one region with the enrollment records (no commit).

    One pass builds a work table (one row per person of the region: covered this year or not,
    lapsed or in the 3-month grace, the current file and what happens to it); the history, the
    person update, the file updates and the new files are then each one statement over it.
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
        "year_start": date(year, 1, 1),
        "year_end": date(year, 12, 31),
        "cutoff": months_before(today, LAPSE_MONTHS),
        "prefix": f"{year}-",
        **{f"space{index}": space for index, space in enumerate(NAME_SPACES)},
    }

    def execute(statement: str) -> int:
        return connection.execute(_sql(statement), params).rowcount

    open_states = ", ".join(f"'{s}'" for s in OPEN_FILE_STATES)
    work_mem = raise_work_mem(connection)  # hash joins of a million rows
    execute(f"DROP TABLE IF EXISTS {WORK}")
    execute(
        f"CREATE TEMPORARY TABLE {WORK} AS "
        "SELECT p.id AS person_id, p.region_code, p.insured_status AS old_status, "
        "p.insured_scheme AS old_scheme, p.insured_region_code AS old_region, e.scheme, "
        "e.insured_region, "
        "CASE WHEN e.covered = 1 THEN 'insured' ELSE 'uninsured' END AS new_status, "
        "CASE WHEN e.lapsed = 1 THEN 'lapsed' ELSE 'uninsured' END AS file_type, "
        "COALESCE(e.mismatched, 0) AS mismatched, "
        f"f.id AS file_id, f.state AS file_state, {is_government_paid('p')} AS government_paid, "
        "CASE "
        f"WHEN e.covered = 1 AND f.state IN ({open_states}) THEN 'close' "
        "WHEN COALESCE(e.covered, 0) = 0 AND COALESCE(e.grace, 0) = 0 AND f.id IS NULL "
        "THEN 'open' "
        "WHEN COALESCE(e.covered, 0) = 0 AND COALESCE(e.grace, 0) = 0 AND f.state = 'enrolled' "
        "AND f.close_cause = 'comparison' THEN 'reopen' END AS action "
        f"FROM person p LEFT JOIN ({_records_of_persons()}) e ON e.person_id = p.id "
        "LEFT JOIN person_file f ON f.person_id = p.id AND f.year = :year "
        f"WHERE {_population('p')}"
    )
    if postgres:
        execute(f"ANALYZE {WORK}")  # a temporary table has no statistics until analyzed
    distinct = "IS DISTINCT FROM" if postgres else "IS NOT"
    status_changed = f"w.old_status {distinct} w.new_status"
    new_file_state = (
        "CASE w.action WHEN 'close' THEN 'enrolled' WHEN 'open' THEN 'unassigned' "
        "WHEN 'reopen' THEN 'reopened' END"
    )
    if postgres:
        changes = (
            "jsonb_strip_nulls(jsonb_build_object("
            f"'insured_status', CASE WHEN {status_changed} "
            "THEN jsonb_build_array(w.old_status, w.new_status) END, "
            "'file_state', CASE WHEN w.action IS NOT NULL "
            f"THEN jsonb_build_array(w.file_state, {new_file_state}) END))"
        )
    else:
        changes = (
            "json_patch('{}', json_object("
            f"'insured_status', CASE WHEN {status_changed} "
            "THEN json_array(w.old_status, w.new_status) END, "
            "'file_state', CASE WHEN w.action IS NOT NULL "
            f"THEN json_array(w.file_state, {new_file_state}) END))"
        )
    counts = connection.execute(
        _sql(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE new_status = 'insured'), "
            "COUNT(*) FILTER (WHERE action = 'open'), COUNT(*) FILTER (WHERE action = 'close'), "
            f"COUNT(*) FILTER (WHERE action = 'reopen'), "
            f"COUNT(*) FILTER (WHERE mismatched = 1) FROM {WORK}"
        ),
        params,
    ).one()
    # A person's first comparison that opens a file (insured status still unknown, as after the
    # import) writes no history row: all of them would be alike, and a first comparison of a
    # city opens a million files. The file keeps the run (opened_by_run_id) and the history
    # shows the change from there (persons/queries.history_of).
    first_opening = "w.action = 'open' AND w.old_status = 'unknown'"
    execute(
        "INSERT INTO person_change (person_id, region_code, at, user_id, cause, batch_id, "
        f"changes) SELECT w.person_id, w.region_code, :now, :user, 'comparison', :run, {changes} "
        f"FROM {WORK} w WHERE ({status_changed} OR w.action IS NOT NULL) "
        f"AND NOT ({first_opening})"
    )
    execute(
        "UPDATE person SET insured_status = w.new_status, insured_scheme = w.scheme, "
        "insured_region_code = w.insured_region, version = person.version + 1, "
        f"updated_at = :now FROM {WORK} w WHERE person.id = w.person_id AND "
        f"(w.old_status {distinct} w.new_status OR w.old_scheme {distinct} w.scheme "
        f"OR w.old_region {distinct} w.insured_region)"
    )
    execute(
        "UPDATE person_file SET state = 'enrolled', closed_at = :now, close_cause = 'comparison', "
        "closed_by_run_id = :run, credited_user_id = COALESCE(last_visitor_id, assignee_id), "
        f"version = person_file.version + 1 FROM {WORK} w "
        "WHERE person_file.id = w.file_id AND w.action = 'close'"
    )
    execute(
        "UPDATE person_file SET state = CASE WHEN assignee_id IS NULL THEN 'unassigned' "
        "ELSE 'assigned' END, closed_at = NULL, close_cause = NULL, closed_by_run_id = NULL, "
        "file_type = CASE WHEN w.file_type = 'lapsed' THEN 'lapsed' ELSE person_file.file_type "
        f"END, version = person_file.version + 1 FROM {WORK} w "
        "WHERE person_file.id = w.file_id AND w.action = 'reopen'"
    )
    execute(
        "INSERT INTO person_file (person_id, region_code, year, file_number, file_type, "
        "government_paid, filing_flag, state, opened_at, opened_by_run_id, version) "
        "SELECT w.person_id, w.region_code, :year, "
        f"{_concat(':prefix', 'w.region_code', chr(39) + '-' + chr(39), _as_text('w.person_id'))}"
        f", w.file_type, w.government_paid, TRUE, 'unassigned', :now, "
        f"CASE WHEN {first_opening} THEN :run END, 1 FROM {WORK} w "
        "WHERE w.action = 'open' "
        # In the order of the file number (and of the region index): each index is filled
        # near its end instead of at a million random places (16 s instead of 24 s).
        "ORDER BY w.region_code, w.person_id"
    )
    execute(f"DROP TABLE {WORK}")
    restore_work_mem(connection, work_mem)
    persons, insured, opened, closed, reopened, mismatched = (int(c or 0) for c in counts)
    return {
        "persons": persons,
        "insured": insured,
        "opened": opened,
        "closed": closed,
        "reopened": reopened,
        "mismatched": mismatched,
    }


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
    "SUBSTR(p2.region_code, 1, LENGTH(e.vouched_prefix)) = e.vouched_prefix)"
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


def _records_of_persons() -> str:
    """One row per person of the region holding a record that applies to them: covered this
    year, its scheme and insured place (one in the person's own county first), lapsed or in the
    3-month grace (an employee whose contributions stopped), and whether a record names the
    person otherwise than the register (身份信息不一致)."""
    counting = f"CASE WHEN {COUNTING} THEN"
    stopped = "e.scheme = 'employee' AND e.status <> 'normal' AND e.end_date"
    own_county = "SUBSTR(e.region_code, 1, 6) = SUBSTR(p2.region_code, 1, 6)"
    return (
        "SELECT p2.id AS person_id, "
        f"MAX({counting} 1 ELSE 0 END) AS covered, "
        f"MIN({counting} e.scheme END) AS scheme, "
        f"COALESCE(MIN({counting} CASE WHEN {own_county} THEN e.region_code END END), "
        f"MIN({counting} e.region_code END)) AS insured_region, "
        f"MAX(CASE WHEN {stopped} < :cutoff THEN 1 ELSE 0 END) AS lapsed, "
        f"MAX(CASE WHEN {stopped} >= :cutoff THEN 1 ELSE 0 END) AS grace, "
        "MAX(CASE WHEN e.name <> '' AND e.name <> p2.name "
        f"AND e.name <> {_normalized_name('p2.name')} THEN 1 ELSE 0 END) AS mismatched "
        "FROM person p2 JOIN enrollment e ON e.id_number = p2.id_number "
        f"WHERE {_population('p2')} AND {APPLIES} GROUP BY p2.id"
    )


def _concat(*parts: str) -> str:
    return " || ".join(parts)


def _as_text(expression: str) -> str:
    return f"CAST({expression} AS VARCHAR(20))"
