"""The one scope filter: ranges by level, assigned-only grants, and what each user sees."""

from sqlalchemy import func, select

from permissions import scope_for
from permissions.scope import Scope
from portal.accounts.models import User
from portal.extensions import db
from portal.regions.models import Region


def test_prefix_ranges_by_level(ctx):
    # Gouduan town 320923100000: stripping zeros would give "3209231", which would also take in
    # Chenliang town 320923101. The level-based prefix takes the town and its 22 villages only.
    scope = Scope(prefixes=("320923100",))
    codes = set(db.session.scalars(select(Region.code).where(scope.clause(Region.code))))
    assert len(codes) == 23
    assert "320923100000" in codes
    assert all(c.startswith("320923100") for c in codes)


def test_empty_scope_selects_nothing(ctx):
    assert (
        db.session.scalar(
            select(func.count()).select_from(Region).where(Scope().clause(Region.code))
        )
        == 0
    )


def test_nested_grants_collapse_to_the_wider_one(ctx, user):
    u = user("fc_grid2")
    from portal.accounts.models import Grant

    u.grants.append(Grant(role="township_supervisor", region_code="320923001000"))
    db.session.flush()
    assert scope_for(u, "region.view").prefixes == ("320923001",)


def test_assigned_only_grants_need_the_assignee_column(ctx, user):
    scope = scope_for(user("fc_grid1"), "person.view")
    assert scope.prefixes == () and scope.assigned_prefixes == ("320923001001",)
    # Without an assignee column nothing is visible: deny by default.
    assert str(scope.clause(Region.code)) == str(Scope().clause(Region.code))
    clause = scope.clause(Region.code, assignee_column=User.id)
    assert "app_user.id" in str(clause)


def test_supervisor_sees_nothing_of_the_neighbouring_street(ctx, user):
    supervisor = user("fc_supervisor")
    regions = db.session.scalars(
        select(Region.code).where(scope_for(supervisor, "region.view").region_clause(Region.code))
    ).all()
    assert regions and all(code.startswith("320923001") for code in regions)
    users = db.session.scalars(
        select(User.username).where(scope_for(supervisor, "user.view").clause(User.region_code))
    ).all()
    assert "fc_grid2" in users and "wt_grid1" not in users and "wt_supervisor" not in users


def test_disabled_user_has_no_scope(ctx, user):
    u = user("fn_admin")
    u.active = False
    assert scope_for(u, "user.view").is_empty


def test_narrowing_a_scope_to_one_region():
    scope = Scope(prefixes=("3209", "3202"), user_id=1)
    assert scope.narrowed_to("320923").prefixes == ("320923",)
    assert scope.narrowed_to("32").prefixes == ("3202", "3209")
    assert scope.narrowed_to("1101").is_empty
