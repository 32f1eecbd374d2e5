"""The Casbin policy itself: hierarchy, region rule, and the grant-what-you-hold property."""

import time

import pytest

from permissions.enforcer import PolicyEnforcer, get_enforcer, region_within
from permissions.roles import OTHER_ACTIONS, PERSONAL_DATA_ACTIONS, ROLES

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


def test_hierarchy_admin_inherits_the_administration_and_staff_below_not_the_field():
    e = get_enforcer()
    assert e.implied_roles("province_admin") == {
        "province_admin",
        "province_staff",
        "city_admin",
        "city_staff",
        "county_admin",
        "county_staff",
    }
    assert "county_admin" not in e.implied_roles("county_staff")
    assert "auditor" not in e.implied_roles("province_admin")
    assert "grid_worker" in e.implied_roles("township_supervisor")


def test_every_policy_action_is_classified_as_personal_data_or_not():
    """PERSONAL_DATA_ACTIONS is the one list the property below rests on: an action added to
    policy.csv must be put in it or in OTHER_ACTIONS."""
    e = get_enforcer()
    actions = {rule[1] for rule in e._enforcer.get_policy()}
    assert actions <= PERSONAL_DATA_ACTIONS | OTHER_ACTIONS, actions - OTHER_ACTIONS
    assert not PERSONAL_DATA_ACTIONS & OTHER_ACTIONS


def test_no_administrative_role_reaches_personal_data():
    """An administrator (county, city, province admin; the security admin and the auditor) holds
    no action on personal data, neither by its own rules nor through the roles it inherits:
    full numbers and field work come only from an explicit grant (unmask, supervisor)."""
    e = get_enforcer()
    administrative = {name for name, role in ROLES.items() if role.administrative}
    assert administrative == {
        "province_admin",
        "city_admin",
        "county_admin",
        "security_admin",
        "auditor",
    }
    for role in administrative:
        held = {action for action, _ in e.permissions_of(role)}
        assert not held & PERSONAL_DATA_ACTIONS, (role, sorted(held & PERSONAL_DATA_ACTIONS))
        for action in PERSONAL_DATA_ACTIONS:
            for obj in ("*", "assigned"):
                assert not e.enforce_uncached(role, action, obj, "320923001001", "32"), (
                    role,
                    action,
                    obj,
                )
    # The roles that do hold personal data: the explicit grant and the field.
    holders = {
        role
        for role in ROLES
        if {action for action, _ in e.permissions_of(role)} & PERSONAL_DATA_ACTIONS
    }
    assert holders == {"unmask", "township_supervisor", "grid_worker", "covering_worker"}


def test_administrators_keep_their_administrative_work():
    e = get_enforcer()
    inside = ("320923001001", "320923")
    for action in ("user.view", "user.create", "user.manage", "stats.view", "desk.view"):
        assert e.enforce("county_admin", action, "*", *inside), action
    for role in ("county_staff", "township_supervisor", "grid_worker", "unmask"):
        assert e.enforce("county_admin", "role.grant", role, *inside), role
    for role in ("city_staff", "county_admin", "township_supervisor", "grid_worker"):
        assert e.enforce("city_admin", "role.grant", role, "320923001001", "3209"), role


def test_grid_worker_acts_only_on_assigned_objects():
    e = get_enforcer()
    assert e.enforce("grid_worker", "person.view", "assigned", "320923001001", "320923001001")
    assert not e.enforce("grid_worker", "person.view", "*", "320923001001", "320923001001")
    assert e.enforce("township_supervisor", "person.view", "*", "320923001001", "320923001")


def test_a_covering_worker_reaches_nothing_but_the_files_assigned_to_them():
    """代管: the covering grant holds the field work on assigned files and nothing else — no
    action on every object, no figures, no region pages, no files by assignment (file.receive),
    no desk, users or grants — and nobody grants it on the user pages."""
    e = get_enforcer()
    held = e.permissions_of("covering_worker")
    assert held == {
        ("person.view", "assigned"),
        ("person.unmask", "assigned"),
        ("visit.record", "assigned"),
        ("visit.propose_close", "assigned"),
    }
    assert e.implied_roles("covering_worker") == {"covering_worker"}
    actions = {rule[1] for rule in e._enforcer.get_policy()}
    for action in actions:
        for obj in ("*", *ROLES):
            assert not e.enforce_uncached(
                "covering_worker", action, obj, "320923001002", "320923001002"
            ), (action, obj)
    # Outside the covered community not even the assigned files.
    assert not e.enforce(
        "covering_worker", "visit.record", "assigned", "320923001003", "320923001002"
    )
    granters = {
        r for r in ROLES if e.enforce(r, "role.grant", "covering_worker", "320923001002", "32")
    }
    assert granters == set()
    assert ROLES["covering_worker"].desk_granted
    # Only a grid worker's own grant (and the supervisor's, through it) receives files.
    receivers = {r for r in ROLES if e.enforce(r, "file.receive", "*", "320923001002", "32")}
    assert receivers == {"grid_worker", "township_supervisor"}


def test_only_the_auditor_reads_the_audit_log():
    e = get_enforcer()
    readers = {r for r in ROLES if e.enforce(r, "audit.view", "*", "320000000000", "32")}
    assert readers == {"auditor"}


def test_security_roles_are_granted_only_by_the_security_admin():
    e = get_enforcer()
    for officer in ("security_admin", "auditor"):
        granters = {r for r in ROLES if e.enforce(r, "role.grant", officer, "320900000000", "32")}
        assert granters == {"security_admin"}


# A permission held for every object covers the same one for assigned objects; the figures of a
# whole region cover a worker's own figures; who gives a region's files to workers covers being
# given them (file.receive: the grid worker's area).
BROADER = {"stats.view_own": "stats.view", "file.receive": "file.assign"}


def _covered(action: str, held: set[tuple[str, str]]) -> bool:
    return (action, "*") in held or (BROADER.get(action), "*") in held


def test_nobody_can_grant_a_role_they_could_not_exercise():
    """Every role.grant rule names a role whose permissions the granter holds (officers apart,
    who grant only each other's officer roles), personal data apart: an administrator grants
    field work and the unmask grant without holding them (administration and data access are
    separate), and never to itself (grants.grant_error)."""
    e = get_enforcer()
    for granter in ROLES:
        held = e.permissions_of(granter)
        for role in ROLES:
            if not e.enforce(granter, "role.grant", role, "320923001001", "32"):
                continue
            if ROLES[granter].officer:
                assert ROLES[role].officer, f"{granter} may grant {role}"
                continue
            missing = {
                (action, obj)
                for action, obj in e.permissions_of(role) - held
                if action not in PERSONAL_DATA_ACTIONS and not _covered(action, held)
            }
            assert not missing, f"{granter} may grant {role} but lacks {sorted(missing)}"


def test_casbin_decides_once_per_key_and_fast_enough_when_it_does():
    """The memo answers repeated questions without Casbin; Casbin itself (every rule evaluated
    by the matcher) stays cheap enough to be asked per object."""
    e = PolicyEnforcer()
    casbin_calls = []
    real = e._enforcer.enforce

    def counting(*request):
        casbin_calls.append(request)
        return real(*request)

    e._enforcer.enforce = counting
    for code in ("320923001001", "320923001002", "320923002001"):
        for _ in range(100):
            assert e.enforce("county_staff", "person.view", "*", code, "320923")
    assert not e.enforce("county_staff", "person.view", "*", "320902001001", "320923")
    # One Casbin decision within the scope, one outside it: the region enters only as within/not.
    assert len(casbin_calls) == 2
    e._enforcer.enforce = real
    start = time.perf_counter()
    for i in range(200):
        e.enforce_uncached("county_staff", "person.view", "*", f"320923{i:06d}", "320923")
    per_call = (time.perf_counter() - start) / 200
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
