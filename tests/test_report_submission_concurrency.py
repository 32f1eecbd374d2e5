"""Two reviewers decide on one submission at the same moment (PostgreSQL): one wins, the other
is told what was decided; one step recorded, never two.

This test commits for real (each thread has its own session and connection), so it runs outside
the per-test transaction and removes what it created afterwards (but its audit events: the audit
trail is append-only).
"""

import threading

import pytest
from sqlalchemy import select, text

from portal.accounts.models import User
from portal.extensions import db
from portal.reports import submissions as svc
from portal.reports.models import ReportEvent, ReportPeriod, ReportSubmission

pytestmark = pytest.mark.no_db

FUNING = "320923000000"
ROUNDS = 5


def _setup(app) -> list[int]:
    """One submitted submission of Funing per round (a period each: the pair is unique)."""
    with app.app_context():
        ids = []
        for n in range(ROUNDS):
            period = ReportPeriod(
                region_code="320900000000", year=2026, code=f"RACE{n}", name="并发测试"
            )
            db.session.add(period)
            db.session.flush()
            sub = ReportSubmission(
                period_id=period.id, region_code=FUNING, state="submitted", snapshot={}, version=1
            )
            db.session.add(sub)
            db.session.flush()
            ids.append(sub.id)
        db.session.commit()
        return ids


def _cleanup(app) -> None:
    with app.app_context():
        for sql in (
            "DELETE FROM report_event WHERE submission_id IN (SELECT s.id FROM report_submission s"
            " JOIN report_period p ON p.id = s.period_id WHERE p.name = '并发测试')",
            "DELETE FROM report_submission WHERE period_id IN "
            "(SELECT id FROM report_period WHERE name = '并发测试')",
            "DELETE FROM report_period WHERE name = '并发测试'",
        ):
            db.session.execute(text(sql))
        db.session.commit()


def _race(app, submission_id: int) -> dict[str, str]:
    """yc_staff accepts and js_staff returns, both from version 1, released at once: each
    user's "won" or the message they were given."""
    start = threading.Barrier(2)
    results: dict[str, str] = {}

    def decide(username, decision, comment):
        try:
            with app.test_request_context():
                actor = db.session.scalar(select(User).where(User.username == username))
                sub = db.session.get(ReportSubmission, submission_id)
                start.wait(timeout=30)
                try:
                    svc.review(actor, sub, decision, comment, version=1)
                    db.session.commit()
                    results[username] = "won"
                except svc.SubmissionConflict as exc:
                    db.session.rollback()
                    results[username] = str(exc)
                db.session.remove()
        except Exception as exc:  # reported by the test
            results[username] = f"error: {exc!r}"

    threads = [
        threading.Thread(target=decide, args=("yc_staff", "accept", "")),
        threading.Thread(target=decide, args=("js_staff", "return", "请核实")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_two_reviewers_at_once_one_wins(app, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite has a single writer; concurrency is PostgreSQL's question")
    ids = _setup(app)
    try:
        for submission_id in ids:
            results = _race(app, submission_id)
            winners = [u for u, r in results.items() if r == "won"]
            assert len(winners) == 1, results
            (loser,) = set(results) - set(winners)
            with app.app_context():
                sub = db.session.get(ReportSubmission, submission_id)
                events = db.session.scalars(
                    select(ReportEvent).where(ReportEvent.submission_id == submission_id)
                ).all()
                accepted = winners == ["yc_staff"]
                assert len(events) == 1 and sub.version == 2
                assert sub.state == ("accepted" if accepted else "returned")
                assert events[0].action == ("accept" if accepted else "return")
                winner_name = "盐城市经办" if accepted else "江苏省经办"
                assert f"该报送已由{winner_name}于" in results[loser]
                assert "您的操作未执行" in results[loser]
                db.session.remove()
    finally:
        _cleanup(app)
