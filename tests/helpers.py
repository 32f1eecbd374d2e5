"""Helpers for tests that drive the portal through the test client.

No application context is pushed while a test runs (conftest): every request gets its own, and
a test reads or changes rows in short contexts of its own. Changes are committed there, which
only releases a SAVEPOINT inside the test's rolled-back transaction.
"""

from contextlib import contextmanager

from sqlalchemy import select

from portal.accounts.models import User
from portal.extensions import db


@contextmanager
def database(app):
    """A session to change rows with; committed (to the test's savepoint) on exit."""
    with app.app_context():
        yield db.session
        db.session.commit()


def fetch(app, query) -> list:
    """Rows as they are now, detached with their loaded columns readable."""
    with app.app_context():
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        return rows


def account(app, username: str = "fc_grid1") -> User:
    (found,) = fetch(app, select(User).where(User.username == username))
    return found
