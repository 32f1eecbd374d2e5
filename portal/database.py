"""Engine set-up that differs by database."""

from flask import Flask
from sqlalchemy import event

from portal.extensions import db


def _sqlite_connect(dbapi_connection, _record):
    # Let SQLAlchemy, not the driver, manage transactions (savepoints work), and enforce FKs.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection):
    # IMMEDIATE takes the write lock at once, so concurrent writers wait (busy_timeout) instead
    # of failing with "database is locked" when a read transaction tries to upgrade.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def configure_engines(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
