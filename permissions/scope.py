"""Turns a user's grants into the SQL filter for lists, counts, exports, dropdowns and aggregates.

Every read of scoped rows goes through `scope_for(user, action).clause(column)`. A region scope is
a set of code prefixes; each becomes `column BETWEEN prefix000… AND prefix999…`, a range scan on
the plain index of a fixed-width code column (no LIKE, no collation surprises). A grant that holds
the action only for assigned objects (a grid worker) adds `assignee = user` to its range. No grant,
no rows: an empty scope is `false`.
"""

from dataclasses import dataclass

from sqlalchemy import and_, false, or_

from permissions.decisions import ANY, ASSIGNED
from permissions.enforcer import get_enforcer
from permissions.guard import mark_consulted
from portal.regions.codes import subtree_bounds


def _minimal(prefixes) -> tuple[str, ...]:
    """Drop prefixes already covered by a shorter one."""
    kept: list[str] = []
    for p in sorted(set(prefixes), key=lambda s: (len(s), s)):
        if not any(p.startswith(k) for k in kept):
            kept.append(p)
    return tuple(sorted(kept))


@dataclass(frozen=True)
class Scope:
    """Where a user may exercise one action."""

    prefixes: tuple[str, ...] = ()
    assigned_prefixes: tuple[str, ...] = ()
    user_id: int | None = None

    @property
    def is_empty(self) -> bool:
        return not self.prefixes and not self.assigned_prefixes

    @property
    def includes_province(self) -> bool:
        return any(len(p) <= 2 for p in self.prefixes)

    def contains(self, code: str | None, assigned_to: int | None = None) -> bool:
        """Python twin of `clause` for one already-loaded object."""
        if not code:
            return False
        if any(code.startswith(p) for p in self.prefixes):
            return True
        return (
            assigned_to is not None
            and assigned_to == self.user_id
            and any(code.startswith(p) for p in self.assigned_prefixes)
        )

    def clause(self, region_column, assignee_column=None, *, unplaced_visible_at_top=False):
        """SQL condition selecting the rows this scope may see.

        unplaced_visible_at_top: rows with no region (e.g. a failed login by an unknown name)
        are visible only to a province-level scope, the level that can deal with them.
        """
        terms = [region_column.between(*subtree_bounds(p)) for p in self.prefixes]
        if self.assigned_prefixes and assignee_column is not None:
            ranges = or_(
                *(region_column.between(*subtree_bounds(p)) for p in self.assigned_prefixes)
            )
            terms.append(and_(assignee_column == self.user_id, ranges))
        if unplaced_visible_at_top and self.includes_province:
            terms.append(region_column.is_(None))
        if not terms:
            return false()
        return or_(*terms) if len(terms) > 1 else terms[0]

    def narrowed_to(self, region_prefix: str) -> "Scope":
        """The part of this scope that lies within one region (e.g. the region of an import)."""

        def narrow(prefixes):
            kept = []
            for p in prefixes:
                if region_prefix.startswith(p):
                    kept.append(region_prefix)
                elif p.startswith(region_prefix):
                    kept.append(p)
            return _minimal(kept)

        return Scope(narrow(self.prefixes), narrow(self.assigned_prefixes), self.user_id)

    def region_clause(self, region_code_column):
        """Filter for the region table itself (assigned-only grants see their own regions)."""
        prefixes = self.prefixes + self.assigned_prefixes
        if not prefixes:
            return false()
        return or_(*(region_code_column.between(*subtree_bounds(p)) for p in _minimal(prefixes)))


def scope_for(user, action: str) -> Scope:
    """The scope in which `user` may perform `action`, decided by Casbin grant by grant."""
    mark_consulted()
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Scope()
    enforcer = get_enforcer()
    full, assigned = [], []
    for grant in user.grants:
        if enforcer.enforce(grant.role, action, ANY, grant.region_code, grant.prefix):
            full.append(grant.prefix)
        elif enforcer.enforce(grant.role, action, ASSIGNED, grant.region_code, grant.prefix):
            assigned.append(grant.prefix)
    full_min = _minimal(full)
    assigned_min = tuple(
        p for p in _minimal(assigned) if not any(p.startswith(f) for f in full_min)
    )
    return Scope(full_min, assigned_min, user.id)
