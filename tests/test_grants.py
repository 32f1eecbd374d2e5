"""Grant rules: level, subtree, the security roles, the three-officer split."""

import pytest

from permissions.grants import can_manage_user, grant_error, grantable_roles
from portal.extensions import db
from portal.regions.models import Region
from portal.users import operations as ops


def region(code):
    return db.session.get(Region, code)


@pytest.fixture
def grant(ctx, user):
    def _grant(actor, target, role, code):
        return grant_error(user(actor), user(target) if target else None, role, region(code))

    return _grant


def test_county_admin_grants_inside_the_county_at_or_below_its_level(grant):
    assert grant("fn_admin", "fc_grid2", "grid_worker", "320923001001") is None
    assert grant("fn_admin", "fc_grid2", "township_supervisor", "320923001000") is None
    assert grant("fn_admin", "fc_grid2", "county_staff", "320923000000") is None


def test_admin_cannot_grant_above_its_level(grant):
    message = grant("fn_admin", "fc_grid2", "city_admin", "320900000000")
    assert message and "无权" in message
    assert "无权" in grant("fn_admin", "fc_grid2", "province_staff", "320000000000")


def test_admin_cannot_grant_outside_its_subtree(grant):
    # Tinghu (320902) is a sibling county of Funing (320923).
    assert "无权" in grant("fn_admin", "fc_grid2", "grid_worker", "320902001001")
    assert "无权" in grant("fc_supervisor", "fc_grid2", "grid_worker", "320923002001")


def test_role_level_must_match_region_level(grant):
    message = grant("fn_admin", "fc_grid2", "grid_worker", "320923001000")
    assert "只能授予在社区/村级区划" in message
    assert "只能授予" in grant("js_admin", "fc_grid2", "county_staff", "320900000000")


def test_only_the_security_admin_grants_security_roles(grant):
    for admin in ("js_admin", "yc_admin", "fn_admin"):
        assert "无权" in grant(admin, "fc_grid2", "auditor", "320900000000")
        assert "无权" in grant(admin, "fc_grid2", "security_admin", "320900000000")
    assert grant("js_security", "yc_auditor", "security_admin", "320900000000") is not None
    assert grant("js_security", None, "auditor", "320900000000") is None


def test_three_officer_split(grant):
    # An auditor cannot also be a security admin, nor any administrative role.
    assert "三员分立" in grant("js_security", "yc_auditor", "security_admin", "320900000000")
    # A county admin cannot be made an auditor (the security admin grants it, and is refused).
    assert "三员分立" in grant("js_security", "fn_admin", "auditor", "320900000000")
    # A grid worker may become an auditor: not an officer role.
    assert grant("js_security", "fc_grid2", "auditor", "320900000000") is None


def test_supervisor_grants_only_grid_workers_of_its_township(ctx, user):
    roles = grantable_roles(user("fc_supervisor"), region("320923001001"))
    assert roles == ["grid_worker"]
    assert grantable_roles(user("fc_supervisor"), region("320923001000")) == []
    assert grantable_roles(user("fc_supervisor"), region("320923002001")) == []


def test_nobody_changes_their_own_roles(grant):
    assert "自己" in grant("fn_admin", "fn_admin", "county_staff", "320923000000")


def test_management_needs_every_role_of_the_target(ctx, user):
    assert can_manage_user(user("fn_admin"), user("fc_grid2"))
    assert can_manage_user(user("fc_supervisor"), user("fc_grid2"))
    assert not can_manage_user(user("fn_admin"), user("yc_admin"))  # above
    assert not can_manage_user(user("fc_supervisor"), user("wt_grid1"))  # beside
    assert not can_manage_user(user("js_admin"), user("js_auditor"))  # officer
    assert can_manage_user(user("js_security"), user("yc_auditor"))
    assert not can_manage_user(user("js_security"), user("fc_grid2"))
    assert not can_manage_user(user("fn_admin"), user("fn_admin"))


def test_county_admin_creates_a_grid_worker_in_fucheng_but_not_a_city_admin(ctx, user):
    actor = user("fn_admin")
    created, password = ops.create_user(
        actor,
        username="fc_grid9",
        display_name="新网格员",
        phone="13812345678",
        region=region("320923001003"),
        role="grid_worker",
    )
    assert created.must_change_password and created.grants[0].role == "grid_worker"
    assert len(password) >= 10
    with pytest.raises(ops.UserAdminError, match="无权"):
        ops.create_user(
            actor,
            username="yc_admin2",
            display_name="x",
            phone="",
            region=region("320900000000"),
            role="city_admin",
        )


def test_a_user_holding_a_role_the_actor_cannot_grant_is_out_of_reach(ctx, user):
    target = user("fc_grid2")
    supervisor = user("fc_supervisor")
    ops.set_active(supervisor, target, False)  # a plain grid worker: the supervisor may
    ops.set_active(supervisor, target, True)
    ops.add_grant(user("fn_admin"), target, "township_supervisor", region("320923001000"))
    db.session.flush()
    # Now fc_grid2 is also a supervisor: the street supervisor may no longer manage them.
    with pytest.raises(ops.UserAdminError, match="超出您授权范围"):
        ops.set_active(supervisor, target, False)
    with pytest.raises(ops.UserAdminError):
        ops.reset_password(supervisor, target)
    assert target.active


def test_security_admin_manages_officer_accounts_only(ctx, user):
    with pytest.raises(ops.UserAdminError, match="超出您授权范围"):
        ops.add_grant(user("js_security"), user("fc_grid2"), "auditor", region("320900000000"))
    officer, _ = ops.create_user(
        user("js_security"),
        username="yc_security",
        display_name="x",
        phone=None,
        region=region("320900000000"),
        role="security_admin",
    )
    assert [g.role for g in officer.grants] == ["security_admin"]
