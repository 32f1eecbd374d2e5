"""The one authority on what a user may do and which rows a user may see.

- `can(user, action, region_code=None, obj="*")` / `require(...)`: a yes/no decision by Casbin;
  `can_below(...)`: the same through a grant held strictly above the region.
- `scope_for(user, action).clause(column)`: the SQL filter for every scoped read.
- `public`, `signed_in`, `requires(action)`: view decorators; a view that consults nothing fails.
- `grants`: who may grant which role where; the three-officer split.
"""

from permissions.decisions import ANY, ASSIGNED, can, can_below, holds, require, shows
from permissions.guard import mark_consulted, public, requires, signed_in, was_consulted
from permissions.roles import ROLES
from permissions.scope import Scope, scope_for

__all__ = [
    "ANY",
    "ASSIGNED",
    "ROLES",
    "Scope",
    "can",
    "can_below",
    "holds",
    "mark_consulted",
    "public",
    "require",
    "requires",
    "scope_for",
    "shows",
    "signed_in",
    "was_consulted",
]
