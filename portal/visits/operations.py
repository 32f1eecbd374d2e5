"""Recording a visit: one transition of the file, idempotent, optimistically locked.

A visit form carries an idempotency key (made when the form is rendered, kept in the device's
draft) and the file version it was opened at. The same key submitted again — a retry on a flaky
network, a double tap, a draft resubmitted — returns the visit already saved and changes nothing.
Two submissions racing on PostgreSQL meet at the unique (user_id, idempotency_key) index: the
second INSERT waits for the first transaction and then does nothing.
"""

from dataclasses import dataclass
from datetime import date

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.exc import StaleDataError

from portal.audit import operations as audit
from portal.extensions import db
from portal.persons.codes import FILE_STATE_LABELS, REASON_LABELS
from portal.persons.models import Person, PersonFile
from portal.stats import activity
from portal.stats import maintain as stats
from portal.timeutil import format_local, local_today, utcnow
from portal.visits.codes import OUTCOME_BY_CODE
from portal.visits.models import Visit
from portal.workflow import transitions
from portal.workflow.transitions import TransitionRefused


class VisitRefused(Exception):
    """A visit that cannot be saved, with a Chinese message; the worker's input is kept."""


class VisitConflict(Exception):
    """The file changed after the form was opened; `fields` are (label, current value)."""

    def __init__(self, fields: list[tuple[str, str]]):
        super().__init__("conflict")
        self.fields = fields


@dataclass(frozen=True)
class VisitInput:
    method: str
    outcome: str
    idempotency_key: str
    version: int | None
    token: str | None = None
    reason_code: str | None = None
    note: str = ""
    follow_up_on: date | None = None
    # The worker helped the person activate the e-credential (帮助激活医保电子凭证).
    activated_e_credential: bool = False


@dataclass(frozen=True)
class VisitResult:
    visit: Visit
    replayed: bool  # the same submission arrived before: nothing was changed this time


# --- what the form saw ------------------------------------------------------------------------

_SEEN_FIELDS = {
    "state": "档案状态",
    "assignee_id": "负责网格员",
    "due_date": "截止日期",
    "follow_up_on": "下次跟进",
    "last_visit_at": "最近走访",
    "reason_code": "未参保原因",
}


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="visit-form")


def _seen(file: PersonFile) -> dict:
    values = {f: getattr(file, f) for f in _SEEN_FIELDS}
    return {f: None if v is None else str(v) for f, v in values.items()}


def form_token(file: PersonFile) -> str:
    """Signed snapshot of what the worker is looking at, to say what changed on a conflict."""
    return _serializer().dumps(_seen(file))


def _shown(field: str, file: PersonFile, names: dict[int, str]) -> str:
    value = getattr(file, field)
    if value is None:
        return "（空）"
    if field == "state":
        return FILE_STATE_LABELS.get(value, value)
    if field == "reason_code":
        return REASON_LABELS.get(value, value)
    if field == "assignee_id":
        return names.get(value, "其他人员")
    if field == "last_visit_at":
        return format_local(value)
    return str(value)


def changed_since(token: str | None, file: PersonFile) -> list[tuple[str, str]]:
    from portal.persons.queries import user_names

    try:
        seen = _serializer().loads(token or "")
    except BadSignature:
        seen = {}
    now = _seen(file)
    names = user_names({file.assignee_id} - {None})
    return [
        (label, _shown(field, file, names))
        for field, label in _SEEN_FIELDS.items()
        if seen.get(field) != now[field]
    ]


# --- recording --------------------------------------------------------------------------------


def _previous(actor, key: str) -> Visit | None:
    return db.session.scalar(
        select(Visit).where(Visit.user_id == actor.id, Visit.idempotency_key == key)
    )


def _insert_once(values: dict) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING on the idempotency key; the new id, or None."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Visit)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["user_id", "idempotency_key"])
        .returning(Visit.id)
    )
    return db.session.execute(statement).scalar()


def _check(actor, file: PersonFile, data: VisitInput):
    outcome = OUTCOME_BY_CODE.get(data.outcome)
    if outcome is None:
        raise VisitRefused("请选择走访结果。")
    reason = data.reason_code or outcome.reason
    if outcome.needs_reason and not data.reason_code:
        raise VisitRefused(f"走访结果为“{outcome.label}”时请选择未参保原因。")
    if reason is not None and reason not in REASON_LABELS:
        raise VisitRefused("未参保原因不在代码表中，请重新选择。")
    if data.follow_up_on is not None and data.follow_up_on < local_today():
        raise VisitRefused("下次跟进日期不能早于今天。")
    message = transitions.refusal(actor, file, outcome.action)
    if message:
        raise VisitRefused(message)
    if data.version != file.version:
        raise VisitConflict(changed_since(data.token, file))
    return outcome, reason


def record_visit(actor, file: PersonFile, data: VisitInput) -> VisitResult:
    """Save one visit and move the file (no commit). Raises VisitRefused / VisitConflict."""
    earlier = _previous(actor, data.idempotency_key)
    if earlier is not None:
        if earlier.file_id != file.id:
            raise VisitRefused("该提交已用于另一个档案，请刷新页面后重新填写。")
        return VisitResult(earlier, replayed=True)
    outcome, reason = _check(actor, file, data)
    person = db.session.get(Person, file.person_id) if data.activated_e_credential else None
    # Only a person whose e-credential is not yet activated can be helped to activate it.
    activated = person is not None and not person.e_credential
    now = utcnow()
    visit_id = _insert_once(
        {
            "file_id": file.id,
            "person_id": file.person_id,
            "region_code": file.region_code,
            "user_id": actor.id,
            "at": now,
            "method": data.method,
            "outcome": outcome.code,
            "reason_code": reason,
            "note": data.note.strip() or None,
            "follow_up_on": data.follow_up_on,
            "idempotency_key": data.idempotency_key,
            "review_state": "pending" if outcome.action == "propose_close" else None,
            "activated_e_credential": activated,
        }
    )
    if visit_id is None:  # a concurrent submission with the same key won: it is the visit
        return VisitResult(_previous(actor, data.idempotency_key), replayed=True)
    changes = {"visit_outcome": [None, outcome.code]}
    if activated:
        changes["e_credential"] = [False, True]
    try:
        # One UPDATE of the file: no autoflush between setting its fields and its state.
        with db.session.begin_nested(), db.session.no_autoflush:
            if reason != file.reason_code and reason is not None:
                changes["reason_code"] = [file.reason_code, reason]
                file.reason_code = reason
            if data.follow_up_on != file.follow_up_on:
                changes["follow_up_on"] = [_iso(file.follow_up_on), _iso(data.follow_up_on)]
                file.follow_up_on = data.follow_up_on
            file.last_visit_at, file.last_visitor_id = now, actor.id
            if activated:
                person.e_credential = True  # the person's version guards a concurrent edit
            transitions.perform(
                actor, file, outcome.action, cause="visit", changes=changes, batch_id=visit_id
            )
            db.session.flush()  # UPDATE … WHERE version = <read>: a concurrent change matches 0
            connection = db.session.connection()
            if activated:  # a person count changed too (e_credential)
                stats.refresh(connection, community={file.region_code, person.region_code})
            else:
                stats.refresh(connection, community=file.region_code, files_only=True)
            activity.count_visit(connection, file.region_code, now)  # after the figures' locks
    except StaleDataError:
        db.session.rollback()
        raise VisitConflict([("档案", "刚被其他人修改，请刷新后重新提交")]) from None
    except TransitionRefused as refused:
        db.session.rollback()
        raise VisitRefused(str(refused)) from None
    visit = db.session.get(Visit, visit_id)
    _audit(actor, file, visit)
    return VisitResult(visit, replayed=False)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _audit(actor, file: PersonFile, visit: Visit) -> None:
    """Each visit is an audit event: which file, the outcome and method (the note is personal
    and stays in the visit record)."""
    audit.record(
        "visit.record",
        actor=actor,
        target_type="file",
        target_id=file.id,
        target_label=file.file_number,
        region_code=file.region_code,
        detail={"outcome": visit.outcome, "method": visit.method, "visit_id": visit.id},
    )
