"""The Casbin policy itself: hierarchy, region rule, and the grant-what-you-hold property."""

import time

import pytest

from permissions.enforcer import PolicyEnforcer, get_enforcer, region_within
from permissions.roles import ROLES

pytestmark = pytest.mark.no_db


def test_region_rule_is_prefix_by_level_not_by_zero_stripping():
    # Township 320902010000 has prefix 320902010 (9 digits): its community is within,
    # a community of township 320902001 is not, though stripping zeros would say "3209020".
    assert region_within("320902010001", "320902010")
    assert not region_within("320902001001", "320902010")
    assert not region_within("", "32")
    assert not region_within("320902010001", "")


def test_grant_region_bounds_every_decision():
    e = get_enforcer()
    assert e.enforce("county_staff", "person.view", "*", "320923001001", "320923")
    assert not e.enforce("county_staff", "person.view", "*", "320902001001", "320923")


def test_hierarchy_admin_inherits_the_level_below():
    e = get_enforcer()
    assert {"city_admin", "county_admin", "township_supervisor", "grid_worker"} <= e.implied_roles(
        "province_admin"
    )
    assert "county_admin" not in e.implied_roles("county_staff")
    assert "auditor" not in e.implied_roles("province_admin")


def test_grid_worker_acts_only_on_assigned_objects():
    e = get_enforcer()
    assert e.enforce("grid_worker", "person.view", "assigned", "320923001001", "320923001001")
    assert not e.enforce("grid_worker", "person.view", "*", "320923001001", "320923001001")
    assert e.enforce("township_supervisor", "person.view", "*", "320923001001", "320923001")


def test_only_the_auditor_reads_the_audit_log():
    e = get_enforcer()
    readers = {r for r in ROLES if e.enforce(r, "audit.view", "*", "320000000000", "32")}
    assert readers == {"auditor"}


def test_security_roles_are_granted_only_by_the_security_admin():
    e = get_enforcer()
    for officer in ("security_admin", "auditor"):
        granters = {r for r in ROLES if e.enforce(r, "role.grant", officer, "320900000000", "32")}
        assert granters == {"security_admin"}


def test_nobody_can_grant_a_role_they_could_not_exercise():
    """Every role.grant rule names a role whose permissions the granter holds (officers apart,
    who grant only each other's officer roles)."""
    e = get_enforcer()
    for granter in ROLES:
        held = e.permissions_of(granter)
        for role in ROLES:
            if not e.enforce(granter, "role.grant", role, "320923001001", "32"):
                continue
            if ROLES[granter].officer:
                assert ROLES[role].officer, f"{granter} may grant {role}"
                continue
            missing = e.permissions_of(role) - held
            assert not missing, f"{granter} may grant {role} but lacks {sorted(missing)}"


def test_enforce_is_fast_enough_to_call_per_object():
    e = get_enforcer()
    start = time.perf_counter()
    for _ in range(2000):
        e.enforce("province_admin", "user.manage", "*", "320923001001", "32")
    per_call = (time.perf_counter() - start) / 2000
    assert per_call < 0.005  # generous: a sanity bound, the real figure is in bench/


def test_policy_file_change_is_picked_up(tmp_path, monkeypatch):
    from permissions import enforcer as module

    policy = tmp_path / "policy.csv"
    policy.write_text("p, auditor, audit.view, *\n")
    e = PolicyEnforcer(module.MODEL_PATH, policy)
    assert not e.enforce("auditor", "region.view", "*", "32", "32")
    policy.write_text("p, auditor, audit.view, *\np, auditor, region.view, *\n")
    import os

    os.utime(policy, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    monkeypatch.setattr(module, "POLICY_CHECK_SECONDS", 0.0)
    assert e.enforce("auditor", "region.view", "*", "32", "32")


def test_memoised_decisions_equal_casbin_itself():
    """The memo key (role, action, object, within) loses nothing Casbin would look at."""
    e = get_enforcer()
    actions = {rule[1] for rule in e._enforcer.get_policy()}
    objects = {"*", "assigned", *ROLES}
    cases = [("320923001001", "320923"), ("320902001001", "320923"), ("320923001001", "")]
    for role in ROLES:
        for action in actions:
            for obj in objects:
                for region, scope in cases:
                    assert e.enforce(role, action, obj, region, scope) == e.enforce_uncached(
                        role, action, obj, region, scope
                    ), (role, action, obj, region, scope)
