"""One answer for every failed sign-in, and failures throttled per client address as well as per
account (in this process, or in Redis where several processes serve)."""

import os
import re
import uuid
from datetime import timedelta

import pytest
import redis
from flask import Flask
from sqlalchemy import select
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import register_config
from portal.accounts import throttle
from portal.accounts.models import User
from portal.demo import DEMO_PASSWORD
from portal.timeutil import utcnow
from tests.helpers import account, database

WRONG = "Wrong@Passw0rd"
GENERIC = "用户名或密码错误，或账户因连续输错已暂时锁定。"
THROTTLED = "登录失败次数过多，请稍后再试。"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def post_login(client, username, password, address="192.0.2.10", **kwargs):
    return client.post(
        "/login",
        data={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
        **kwargs,
    )


def answer(response, typed: str) -> tuple[int, str]:
    """The status and the page, with the username the form echoes taken out."""
    body = response.get_data(as_text=True).replace(f'value="{typed}"', 'value=""')
    body = re.sub(r'"X-CSRFToken": "[^"]*"', "", body)  # a fresh token for each new browser
    body = re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", body)
    return response.status_code, body


def alert(response) -> list[str]:
    return re.findall(r'role="alert">(.*?)</p>', response.get_data(as_text=True), re.S)


@pytest.fixture
def few(app, monkeypatch):
    """An address may fail three times per window."""
    monkeypatch.setitem(app.config, "LOGIN_ADDRESS_MAX_FAILURES", 3)


def test_unknown_user_wrong_password_and_locked_account_answer_alike(app):
    answers = {}
    answers["unknown"] = answer(post_login(app.test_client(), "nobody_x", WRONG), "nobody_x")
    answers["wrong"] = answer(post_login(app.test_client(), "fc_grid1", WRONG), "fc_grid1")
    with database(app) as session:
        me = session.scalar(select(User).where(User.username == "fc_grid2"))
        me.locked_until = utcnow() + timedelta(minutes=30)
    for password in (WRONG, DEMO_PASSWORD):  # the correct password tells nothing either
        answers[f"locked {password}"] = answer(
            post_login(app.test_client(), "fc_grid2", password), "fc_grid2"
        )
    statuses = {status for status, _ in answers.values()}
    bodies = {body for _, body in answers.values()}
    assert statuses == {200}
    assert len(bodies) == 1, "the answers differ"
    assert GENERIC in bodies.pop()


def test_failures_are_throttled_per_address_whatever_the_username(app, few):
    client = app.test_client()
    for username in ("nobody_1", "fc_grid1", "nobody_2"):
        assert alert(post_login(client, username, WRONG, address="192.0.2.20")) == [GENERIC]
    # The fourth attempt from that address is refused unchecked, even with a correct password …
    refused = post_login(client, "fc_grid2", DEMO_PASSWORD, address="192.0.2.20")
    assert refused.status_code == 200 and alert(refused) == [THROTTLED]
    assert account(app, "fc_grid2").failed_logins == 0  # … and counts for no account
    # … while another address signs in, and no account was locked by the spread guesses.
    assert post_login(client, "fc_grid2", DEMO_PASSWORD, address="192.0.2.21").status_code == 302
    assert account(app, "fc_grid1").locked_until is None


def test_a_forwarded_for_header_is_ignored_without_configured_proxies(app, few):
    client = app.test_client()
    for n in range(3):
        post_login(
            client,
            "nobody",
            WRONG,
            address="192.0.2.30",
            headers={"X-Forwarded-For": f"10.0.0.{n}"},
        )
    refused = post_login(
        client, "fc_grid1", DEMO_PASSWORD, "192.0.2.30", headers={"X-Forwarded-For": "10.0.0.9"}
    )
    assert alert(refused) == [THROTTLED]


def test_the_client_address_comes_through_configured_proxies_only(app, few, monkeypatch):
    # The factory installs ProxyFix only when PROXY_HOPS is configured.
    for hops, proxied in ((0, False), (1, True)):
        bare = Flask("proxy_check")
        register_config(bare, {"PROXY_HOPS": hops, "SECRET_KEY": "x"})
        assert isinstance(bare.wsgi_app, ProxyFix) is proxied
    # Behind one proxy, each forwarded client is counted on its own.
    monkeypatch.setattr(app, "wsgi_app", ProxyFix(app.wsgi_app, x_for=1))
    client = app.test_client()
    for _ in range(3):
        post_login(client, "nobody", WRONG, "192.0.2.40", headers={"X-Forwarded-For": "10.1.1.1"})
    proxy = "192.0.2.40"
    blocked = post_login(
        client, "fc_grid1", DEMO_PASSWORD, proxy, headers={"X-Forwarded-For": "10.1.1.1"}
    )
    assert alert(blocked) == [THROTTLED]
    other = post_login(
        client, "fc_grid1", DEMO_PASSWORD, proxy, headers={"X-Forwarded-For": "10.1.1.2"}
    )
    assert other.status_code == 302


def test_wrong_current_passwords_count_as_failed_sign_ins(app, login, few):
    client = login("fc_grid1")
    for _ in range(2):
        response = client.post(
            "/password",
            data={"current": WRONG, "new": "Neu@Passw2026", "confirm": "Neu@Passw2026"},
            environ_base={"REMOTE_ADDR": "192.0.2.50"},
        )
        assert "当前密码不正确。" in response.get_data(as_text=True)
    assert account(app, "fc_grid1").failed_logins == 2
    # Together with one failed sign-in they use up the address's failures.
    post_login(app.test_client(), "nobody", WRONG, "192.0.2.50")
    assert alert(post_login(app.test_client(), "fc_grid2", DEMO_PASSWORD, "192.0.2.50")) == [
        THROTTLED
    ]


def test_wrong_current_passwords_lock_the_account_and_end_the_session(app, login):
    client = login("fc_grid1")
    for _ in range(5):
        response = client.post(
            "/password",
            data={"current": WRONG, "new": "Neu@Passw2026", "confirm": "Neu@Passw2026"},
        )
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    me = account(app, "fc_grid1")
    assert me.locked_until is not None
    assert client.get("/").status_code == 302  # signed out
    assert alert(post_login(app.test_client(), "fc_grid1", DEMO_PASSWORD, "192.0.2.51")) == [
        GENERIC
    ]


def _redis_or_fail():
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI ({REDIS_URL})")
        pytest.skip(f"no Redis at {REDIS_URL}")
    return client


def test_the_counts_are_shared_through_redis_when_configured(app, monkeypatch, few):
    """Where several processes serve, each sees the others' failures: the count lives in Redis
    (the in-process counts are forgotten between the attempts, as another process would)."""
    redis_client = _redis_or_fail()
    monkeypatch.setitem(app.config, "RATELIMIT_STORAGE", REDIS_URL)
    address = f"198.51.100.{uuid.uuid4().int % 250}"
    keys = []
    try:
        with app.test_request_context():
            for _ in range(3):
                assert not throttle.blocked(address)
                throttle.record_failure(address)
                throttle.reset()  # "another process": nothing of this one's memory
            assert throttle.blocked(address)
            keys = redis_client.keys(f"portal:login-failures:{address}:*")
            assert len(keys) == 1 and int(redis_client.get(keys[0])) == 3
            assert 0 < redis_client.ttl(keys[0]) <= 15 * 60 + 1
        # Through the login page too.
        refused = post_login(app.test_client(), "fc_grid1", DEMO_PASSWORD, address)
        assert alert(refused) == [THROTTLED]
    finally:
        if keys:
            redis_client.delete(*keys)


def test_an_unreachable_redis_still_throttles_in_the_process(app, monkeypatch, few):
    monkeypatch.setitem(app.config, "RATELIMIT_STORAGE", "redis://127.0.0.1:1/0")
    with app.test_request_context():
        for _ in range(3):
            throttle.record_failure("198.51.100.251")
        assert throttle.blocked("198.51.100.251")
