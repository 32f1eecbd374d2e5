"""Two imports of overlapping files at the same time (PostgreSQL): no person twice, exact counts.

This test commits for real (two workers need two connections), so it runs outside the
per-test transaction and removes what it created afterwards.
"""

import io
import threading

import pytest
from openpyxl import Workbook
from sqlalchemy import delete, func, select

from portal.accounts.models import User
from portal.extensions import db
from portal.imports import operations as ops
from portal.imports.models import ImportBatch
from portal.jobs import queue
from portal.jobs.models import Job
from portal.persons.models import Person, PersonChange
from portal.regions.models import Region
from tests.factories import make_id

pytestmark = pytest.mark.no_db


def ids(start: int, count: int) -> list[str]:
    return [make_id(n, birth="19850101") for n in range(start, start + count)]


def workbook(id_numbers: list[str]) -> io.BytesIO:
    wb = Workbook()
    wb.active.append(["姓名", "身份证号", "所属社区"])
    for id_number in id_numbers:
        wb.active.append(["并发", id_number, "320923001001"])
    buffer = io.BytesIO()
    wb.save(buffer)
    buffer.seek(0)
    return buffer


def test_overlapping_imports_at_the_same_time(app, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite has a single writer; concurrency is PostgreSQL's question")
    first, second = ids(100, 300), ids(250, 300)  # 150 people in both files
    with app.app_context():
        actor = db.session.scalar(select(User).where(User.username == "fn_staff"))
        region = db.session.get(Region, "320923000000")
        batches = [
            ops.start_import(
                actor, kind="household", region=region, upload=workbook(f), filename=f"并发{n}.xlsx"
            )
            for n, f in enumerate((first, second))
        ]
        db.session.commit()
        job_ids = [b.job_id for b in batches]
        batch_ids = [b.id for b in batches]
    errors = []

    def work(job_id):
        try:
            with app.app_context():
                queue.run_one(f"worker-{job_id}", job_id=job_id)
                db.session.remove()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(j,)) for j in job_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    everyone = set(first) | set(second)
    try:
        with app.app_context():
            assert not errors
            states = db.session.scalars(
                select(ImportBatch).where(ImportBatch.id.in_(batch_ids)).order_by(ImportBatch.id)
            ).all()
            assert [b.state for b in states] == ["succeeded", "succeeded"]
            created = sum(b.created for b in states)
            unchanged = sum(b.unchanged for b in states)
            assert (created, unchanged) == (len(everyone), 150)
            stored = db.session.scalar(
                select(func.count()).select_from(Person).where(Person.id_number.in_(everyone))
            )
            assert stored == len(everyone)
    finally:
        with app.app_context():
            person_ids = select(Person.id).where(Person.id_number.in_(everyone))
            db.session.execute(delete(PersonChange).where(PersonChange.person_id.in_(person_ids)))
            db.session.execute(delete(Person).where(Person.id_number.in_(everyone)))
            db.session.execute(delete(ImportBatch).where(ImportBatch.id.in_(batch_ids)))
            db.session.execute(delete(Job).where(Job.id.in_(job_ids)))
            db.session.commit()
