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
from portal.extensions import db
from portal.jobs import queue
from portal.persons.codes import OPEN_FILE_STATES
from portal.regions.models import Region
from portal.timeutil import utcnow

LAPSE_MONTHS = 3


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
    """Compare the register of one region with the enrollment records (no commit)."""
    connection = db.session.connection()
    postgres = connection.dialect.name == "postgresql"
    lo, hi = region.prefix.ljust(12, "0"), region.prefix.ljust(12, "9")
    params = {
        "lo": lo,
        "hi": hi,
        "year": year,
        "run": run_id,
        "user": user_id,
        "now": utcnow(),
        "year_start": date(year, 1, 1),
        "year_end": date(year, 12, 31),
        "cutoff": months_before(today, LAPSE_MONTHS),
        "prefix": f"{year}-",
    }
    in_scope = "p.in_register AND p.region_code BETWEEN :lo AND :hi"
    covered = (
        "EXISTS (SELECT 1 FROM enrollment e WHERE e.id_number = p.id_number "
        "AND e.status = 'normal' AND e.start_date <= :year_end "
        "AND (e.end_date IS NULL OR e.end_date >= :year_start))"
    )
    stopped = (
        "EXISTS (SELECT 1 FROM enrollment e WHERE e.id_number = p.id_number "
        "AND e.scheme = 'employee' AND e.status <> 'normal' AND e.end_date IS NOT NULL "
        "AND e.end_date {op} :cutoff)"
    )
    lapsed, in_grace = stopped.format(op="<"), stopped.format(op=">=")
    open_states = ", ".join(f"'{s}'" for s in OPEN_FILE_STATES)
    distinct = "IS DISTINCT FROM" if postgres else "IS NOT"
    json_pair = (
        "jsonb_build_object('{k}', jsonb_build_array({old}, {new}))"
        if postgres
        else ("json_object('{k}', json_array({old}, {new}))")
    )
    history = (
        "INSERT INTO person_change (person_id, region_code, at, user_id, cause, batch_id, changes) "
    )

    def execute(statement: str) -> int:
        return connection.execute(_sql(statement), params).rowcount

    counts = connection.execute(
        _sql(f"SELECT COUNT(*), COUNT(*) FILTER (WHERE {covered}) FROM person p WHERE {in_scope}"),
        params,
    ).one()
    new_status = f"CASE WHEN {covered} THEN 'insured' ELSE 'uninsured' END"
    scheme = (
        "(SELECT e.scheme FROM enrollment e WHERE e.id_number = p.id_number "
        "AND e.status = 'normal' AND e.start_date <= :year_end "
        "AND (e.end_date IS NULL OR e.end_date >= :year_start) ORDER BY e.scheme LIMIT 1)"
    )
    insured_place = scheme.replace("SELECT e.scheme", "SELECT e.region_code", 1)
    # 1. The person's insured status, with its history.
    execute(
        history
        + "SELECT p.id, p.region_code, :now, :user, 'comparison', :run, "
        + json_pair.format(k="insured_status", old="p.insured_status", new=new_status)
        + f" FROM person p WHERE {in_scope} AND p.insured_status {distinct} {new_status}"
    )
    execute(
        f"UPDATE person SET insured_status = {new_status.replace('p.', 'person.')}, "
        f"insured_scheme = {scheme.replace('p.', 'person.')}, "
        f"insured_region_code = {insured_place.replace('p.', 'person.')}, "
        "version = version + 1, updated_at = :now "
        f"WHERE person.in_register AND person.region_code BETWEEN :lo AND :hi AND ("
        f"person.insured_status {distinct} {new_status.replace('p.', 'person.')} "
        f"OR person.insured_scheme {distinct} {scheme.replace('p.', 'person.')})"
    )
    # 2. Open files of persons now covered are closed as enrolled (credited to their worker).
    file_of = (
        "FROM person_file f JOIN person p ON p.id = f.person_id "
        f"WHERE f.year = :year AND {in_scope}"
    )
    execute(
        history
        + "SELECT p.id, p.region_code, :now, :user, 'comparison', :run, "
        + json_pair.format(k="file_state", old="f.state", new="'enrolled'")
        + f" {file_of} AND f.state IN ({open_states}) AND {covered}"
    )
    closed = execute(
        "UPDATE person_file SET state = 'enrolled', closed_at = :now, close_cause = 'comparison', "
        "closed_by_run_id = :run, credited_user_id = assignee_id, version = version + 1 "
        f"WHERE id IN (SELECT f.id {file_of} AND f.state IN ({open_states}) AND {covered})"
    )
    # 3. Files closed by an earlier comparison whose person is no longer covered re-open.
    reopen_where = (
        f"{file_of} AND f.state = 'enrolled' AND f.close_cause = 'comparison' "
        f"AND NOT {covered} AND NOT {in_grace}"
    )
    execute(
        history
        + "SELECT p.id, p.region_code, :now, :user, 'comparison', :run, "
        + json_pair.format(k="file_state", old="f.state", new="'reopened'")
        + f" {reopen_where}"
    )
    lapsed_ids = f"SELECT p.id FROM person p WHERE {in_scope} AND {lapsed}"
    reopened = execute(
        "UPDATE person_file SET state = CASE WHEN assignee_id IS NULL THEN 'unassigned' "
        "ELSE 'assigned' END, closed_at = NULL, close_cause = NULL, closed_by_run_id = NULL, "
        f"file_type = CASE WHEN person_id IN ({lapsed_ids}) THEN 'lapsed' ELSE file_type END, "
        f"version = version + 1 WHERE id IN (SELECT f.id {reopen_where})"
    )
    # 4. Everyone in the register without a normal enrollment and without a file gets one.
    opened = execute(
        "INSERT INTO person_file (person_id, region_code, year, file_number, file_type, "
        "filing_flag, state, opened_at, version) "
        "SELECT p.id, p.region_code, :year, "
        f"{_concat(':prefix', 'p.region_code', chr(39) + '-' + chr(39), _as_text('p.id'))}, "
        f"CASE WHEN {lapsed} THEN 'lapsed' ELSE 'uninsured' END, TRUE, 'unassigned', :now, 1 "
        f"FROM person p WHERE {in_scope} AND NOT {covered} AND NOT {in_grace} "
        "AND NOT EXISTS (SELECT 1 FROM person_file f WHERE f.person_id = p.id "
        "AND f.year = :year)"
    )
    if opened:
        execute(
            history
            + "SELECT p.id, p.region_code, :now, :user, 'comparison', :run, "
            + json_pair.format(k="file_state", old="NULL", new="f.state")
            + f" {file_of} AND f.opened_at = :now AND f.version = 1"
        )
    return {
        "persons": int(counts[0]),
        "insured": int(counts[1] or 0),
        "opened": opened,
        "closed": closed,
        "reopened": reopened,
    }


def _concat(*parts: str) -> str:
    return " || ".join(parts)


def _as_text(expression: str) -> str:
    return f"CAST({expression} AS VARCHAR(20))"
