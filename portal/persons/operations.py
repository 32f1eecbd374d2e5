"""Changing and revealing a person: each function takes the acting user, decides through
permissions/, records what it did (change history, audit trail) and flushes; the request commits.
"""

import hashlib
import hmac
from dataclasses import dataclass

from flask import abort, current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm.exc import StaleDataError

from permissions import ANY, ASSIGNED, can, scope_for
from portal.audit import operations as audit
from portal.extensions import db
from portal.masking import mask_id_number
from portal.persons import government_paid, moves, queries
from portal.persons.models import Person, PersonChange
from portal.phones import normalize_phone
from portal.regions.models import Region
from portal.stats import maintain as stats

# The fields of the edit form, in the order the form shows them.
EDITABLE = ("phone", "address", "e_credential", "key_populations", "region_code")


class EditRefused(Exception):
    """A refused edit, with a Chinese message for the user."""


class EditConflict(Exception):
    """The person changed after the form was opened; `fields` are (label, current value)."""

    def __init__(self, fields: list[tuple[str, str]]):
        super().__init__("conflict")
        self.fields = fields


@dataclass
class EditValues:
    phone: str = ""  # empty: keep the current number
    clear_phone: bool = False
    address: str = ""
    e_credential: bool = False
    key_populations: int = 0
    region_code: str = ""


def _label(person: Person) -> str:
    """How the audit trail names a person: name and masked ID number (no full number)."""
    return f"{person.name}（{mask_id_number(person.id_number)}）"[:128]


# --- revealing full numbers -------------------------------------------------------------------


def may_reveal(actor, person: Person) -> bool:
    """May the actor see this person's full ID number and phone? (A grid worker: when the
    person's current file is assigned to them.)"""
    file = queries.current_file(person)
    assigned = file is not None and file.assignee_id == actor.id
    return can(actor, "person.unmask", person.region_code, obj=ASSIGNED if assigned else ANY)


def _audit(actor, action: str, person: Person, detail: dict | None = None) -> None:
    """An audit record about one person: its id and masked label, never the numbers."""
    audit.record(
        action,
        actor=actor,
        target_type="person",
        target_id=person.id,
        target_label=_label(person),
        region_code=person.region_code,
        detail=detail,
    )


def reveal(actor, person: Person, via: str | None = None) -> None:
    """Allow one response to show the full numbers, and log it; 403 without the grant.

    via: how the numbers were asked for when not the person page (e.g. "call": tap-to-call)."""
    if not may_reveal(actor, person):
        abort(403)
    _audit(actor, "person.reveal", person, {"via": via} if via else None)


# --- editing with optimistic locking ----------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="person-edit")


def _digest(value: str | None) -> str:
    """A keyed digest: the form may carry it without carrying the number itself."""
    key = current_app.secret_key.encode()
    return hmac.new(key, (value or "").encode(), hashlib.sha256).hexdigest()[:20]


def _fingerprint(person: Person) -> dict:
    return {
        "phone": _digest(person.phone),
        "address": person.address or "",
        "e_credential": bool(person.e_credential),
        "key_populations": int(person.key_populations or 0),
        "region_code": person.region_code,
    }


def edit_token(person: Person) -> str:
    """What the edit form carries besides the version: the values the user is looking at."""
    return _serializer().dumps(_fingerprint(person))


def form_data(person: Person) -> dict:
    """The edit form's initial values (the phone field starts empty: it is never shown)."""
    return {
        "version": person.version,
        "token": edit_token(person),
        "address": person.address or "",
        "e_credential": bool(person.e_credential),
        "key_populations": [k.code for k in queries.key_populations(person.key_populations)],
        "region_code": person.region_code,
    }


def changed_since(token: str | None, person: Person) -> list[tuple[str, str]]:
    """Fields of the form that differ from what the token says the user saw, with their
    current values (phone masked). An unreadable token lists every field."""
    try:
        seen = _serializer().loads(token or "")
    except BadSignature:
        seen = {}
    now = _fingerprint(person)
    regions = queries.region_names({person.region_code})
    return [
        (
            queries.FIELD_LABELS[field],
            queries.format_value(field, getattr(person, field), False, regions),
        )
        for field in EDITABLE
        if seen.get(field) != now[field]
    ]


def community_choices(actor, person: Person) -> list[tuple[str, str]]:
    """Communities the person may be moved to: within the actor's person.edit scope and the
    person's county (the person's own region always listed first)."""
    scope = scope_for(actor, "person.edit")
    _, choices = queries.region_choices(scope, within=person.region_code[:6], levels=(5,))
    if person.region_code not in {code for code, _ in choices}:
        names = queries.region_names({person.region_code})
        choices.insert(0, (person.region_code, names.get(person.region_code, person.region_code)))
    return choices


def _current_values(person: Person) -> dict:
    """The editable fields as the form compares them (empty text is None)."""
    return {
        "phone": person.phone or None,
        "address": person.address or None,
        "e_credential": bool(person.e_credential),
        "key_populations": int(person.key_populations or 0),
        "region_code": person.region_code,
    }


def _new_values(actor, person: Person, values: EditValues) -> dict:
    if values.clear_phone:
        phone = None
    elif values.phone.strip():
        phone = normalize_phone(values.phone)
        if phone is None:
            raise EditRefused("联系电话格式不正确：应为 11 位手机号（1 开头）或带区号的固定电话。")
    else:
        phone = person.phone
    region_code = values.region_code or person.region_code
    if region_code != person.region_code:
        region = db.session.get(Region, region_code)
        if region is None or region.level != 5:
            raise EditRefused("请选择一个社区或村作为管理社区。")
        if not can(actor, "person.edit", region.code):
            raise EditRefused(f"您无权把人员调整到「{region.name}」。")
    return {
        "phone": phone,
        "address": values.address.strip() or None,
        "e_credential": bool(values.e_credential),
        "key_populations": int(values.key_populations),
        "region_code": region_code,
    }


def update_person(
    actor, person: Person, values: EditValues, *, version: int | None, token: str | None
) -> list[str]:
    """Apply an edit made on a form opened at `version`; returns the labels of the changed
    fields (none: nothing to save). Raises EditConflict if the person changed meanwhile."""
    if not can(actor, "person.edit", person.region_code):
        abort(403)
    if version != person.version:
        raise EditConflict(changed_since(token, person))
    new = _new_values(actor, person, values)
    old = _current_values(person)
    diff = {field: [old[field], new[field]] for field in EDITABLE if old[field] != new[field]}
    if not diff:
        return []
    try:
        with db.session.begin_nested():
            for field, (_, value) in diff.items():
                setattr(person, field, value)
            db.session.add(
                PersonChange(
                    person_id=person.id,
                    region_code=person.region_code,
                    user_id=actor.id,
                    cause="edit",
                    changes=diff,
                )
            )
            # The UPDATE carries "WHERE version = <the version read>" (version_id_col): a
            # change committed since this request read the row makes it match nothing.
            db.session.flush()
            if "key_populations" in diff:
                government_paid.refresh_files(
                    db.session.connection(), "SELECT :person_id", {"person_id": person.id}
                )
            if "region_code" in diff:  # the open file follows the person (persons/moves.py)
                moves.follow_persons(
                    db.session.connection(), cause="edit", user_id=actor.id, person_id=person.id
                )
            # The figures of the person's community, and of the one they left.
            stats.refresh(
                db.session.connection(), community={old["region_code"], person.region_code}
            )
    except StaleDataError:
        db.session.refresh(person)
        raise EditConflict(changed_since(token, person)) from None
    if "region_code" in diff:
        # The files were moved behind the session's back: read them again.
        for file in person.files:
            db.session.expire(file)
    _audit(actor, "person.edit", person, {"fields": list(diff)})
    return [queries.FIELD_LABELS[field] for field in diff]
