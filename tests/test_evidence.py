"""Evidence for closures (portal/visits/evidence.py, evidence_rules.py): images checked by their
content, shrunk and stripped of metadata, size- and count-capped, kept as pending uploads when a
visit is refused, required by the outcome's rule (a supervisor's waiver takes a reason), stored
owner-only and served only to those who may see the file."""

import io
import os
import re
import stat
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.demo import DemoAccount, seed_accounts
from portal.extensions import db
from portal.persons.models import PersonChange
from portal.storage import store
from portal.storage.local import LocalStorage
from portal.timeutil import utcnow
from portal.visits import evidence_rules
from portal.visits.codes import OUTCOMES
from portal.visits.models import Visit, VisitEvidence
from tests.desk_helpers import FUCHENG, file_of
from tests.evidence_helpers import GPS_IFD, jpeg_bytes, png_bytes
from tests.factories import create_task
from tests.helpers import database, fetch

pytest_plugins = ["tests.desk_fixtures"]  # make_file, make_proposal

HIDDEN = re.compile(
    r'<input id="(idempotency_key|version|token)" name="\1" type="hidden" value="([^"]*)"'
)
REVIEWS = f"/desk/{FUCHENG}/reviews"


def form_of(client, file_id: int) -> dict:
    return dict(HIDDEN.findall(client.get(f"/tasks/{file_id}").get_data(as_text=True)))


def image(data: bytes, name: str = "photo.jpg"):
    return (io.BytesIO(data), name)


def submit(client, file_id, form=None, *, files=(), **fields):
    data = {**(form or form_of(client, file_id)), "method": "in_person", **fields}
    if files:
        data["evidence"] = [image(content, name) for content, name in files]
    return client.post(f"/tasks/{file_id}/visit", data=data)


def evidence_rows(app, **where) -> list[VisitEvidence]:
    query = select(VisitEvidence).order_by(VisitEvidence.id)
    for column, value in where.items():
        query = query.where(getattr(VisitEvidence, column) == value)
    return fetch(app, query)


def visits_of(app, file_id) -> list[Visit]:
    return fetch(app, select(Visit).where(Visit.file_id == file_id))


def stored_image(app, row: VisitEvidence) -> Image.Image:
    with app.test_request_context(), store().open(row.storage_key) as stream:
        picture = Image.open(io.BytesIO(stream.read()))
        picture.load()
    return picture


@pytest.fixture
def task(app):
    return lambda name="张三", **kw: create_task(app, name, **kw)


# --- the rule table ----------------------------------------------------------------------------


def test_the_rule_table_names_every_closing_outcome():
    closing = {o.code for o in OUTCOMES if o.action == "propose_close"}
    assert set(evidence_rules.RULE_BY_OUTCOME) == closing
    required = {r.outcome for r in evidence_rules.RULES if r.required}
    assert required == {"deceased", "settled_abroad", "other_scheme", "enrolled_elsewhere"}
    assert "死亡证明" in evidence_rules.rule_for("deceased").hint
    assert evidence_rules.missing_message("wrong_info", 0) is None
    assert evidence_rules.missing_message("deceased", 1) is None
    assert "须上传证明材料照片" in evidence_rules.missing_message("deceased", 0)


# --- types, shrinking, metadata ------------------------------------------------------------------


def test_a_jpeg_and_a_png_are_taken_shrunk_upright_and_without_metadata(app, login, task):
    zhang = task()
    client = login("fc_grid1")
    photo = jpeg_bytes(2400, 1800, gps=True, orientation=6)  # taken sideways: 90° to turn
    assert GPS_IFD in Image.open(io.BytesIO(photo)).getexif()
    response = submit(
        client,
        zhang.file_id,
        outcome="deceased",
        note="家属出示死亡证明",
        files=[(photo, "IMG_0001.JPG"), (png_bytes(3000, 1000), "截图.png")],
    )
    assert response.status_code == 302
    (visit,) = visits_of(app, zhang.file_id)
    rows = evidence_rows(app, visit_id=visit.id)
    assert len(rows) == 2
    first, second = (stored_image(app, row) for row in rows)
    assert first.format == second.format == "JPEG"
    assert (first.width, first.height) == (1200, 1600)  # upright, long side 1600
    assert (second.width, second.height) == (1600, 533)
    for picture, row in ((first, rows[0]), (second, rows[1])):
        assert max(picture.size) <= app.config["EVIDENCE_MAX_SIDE"]
        assert dict(picture.getexif()) == {}
        assert "exif" not in picture.info and "icc_profile" not in picture.info
        assert (row.width, row.height) == picture.size and row.content_type == "image/jpeg"
        assert row.region_code == "320923001001" and row.file_id == zhang.file_id
        assert len(row.sha256) == 64 and row.bytes > 0 and row.form_key is None
    html = client.get("/tasks/").get_data(as_text=True)
    assert "证明材料 2 张已一并提交" in html


def test_a_text_file_named_jpg_is_refused_in_chinese_and_the_note_is_kept(app, login, task):
    zhang = task()
    client = login("fc_grid1")
    response = submit(
        client,
        zhang.file_id,
        outcome="deceased",
        note="村委会证实已去世",
        files=[(b"this is not a picture at all", "死亡证明.jpg")],
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "“死亡证明.jpg”不是可识别的图片，请上传 JPG 或 PNG 格式的照片。" in html
    assert "村委会证实已去世" in html  # the typed note is still in its box
    assert re.search(r'value="deceased"[^>]*checked|checked[^>]*value="deceased"', html)
    assert visits_of(app, zhang.file_id) == [] and evidence_rows(app) == []


def test_heic_is_refused_with_a_request_for_jpg_or_png(app, login, task):
    zhang = task()
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    response = submit(
        login("fc_grid1"), zhang.file_id, outcome="deceased", files=[(heic, "IMG_1.HEIC")]
    )
    assert response.status_code == 422
    assert "HEIC/HEIF 格式" in response.get_data(as_text=True)


def test_an_oversized_image_is_refused(app, login, task, monkeypatch):
    monkeypatch.setitem(app.config, "EVIDENCE_MAX_BYTES", 4 * 1024 * 1024)
    zhang = task()
    big = jpeg_bytes(10, 10) + b"\x00" * (4 * 1024 * 1024)  # a JPEG padded past 4 MB
    response = submit(
        login("fc_grid1"), zhang.file_id, outcome="deceased", note="说明", files=[(big, "大.jpg")]
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "“大.jpg”超过 4 MB，未能上传" in html
    assert "说明" in html and evidence_rows(app) == []


def test_too_many_pixels_is_refused_before_decoding(app, login, task, monkeypatch):
    monkeypatch.setitem(app.config, "EVIDENCE_MAX_PIXELS", 1_000_000)
    zhang = task()
    response = submit(
        login("fc_grid1"), zhang.file_id, outcome="deceased", files=[(jpeg_bytes(2000, 1000), "a")]
    )
    assert response.status_code == 422 and "像素过大" in response.get_data(as_text=True)


def test_too_many_images_are_refused(app, login, task):
    zhang = task()
    cap = app.config["EVIDENCE_MAX_FILES"]
    photos = [(jpeg_bytes(100, 80, gps=False), f"{n}.jpg") for n in range(cap + 1)]
    response = submit(login("fc_grid1"), zhang.file_id, outcome="deceased", files=photos)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f"每条走访记录最多上传 {cap} 张证明材料照片" in html
    assert evidence_rows(app) == [] and visits_of(app, zhang.file_id) == []


def test_a_required_outcome_without_evidence_is_refused(app, login, task):
    zhang = task()
    response = submit(login("fc_grid1"), zhang.file_id, outcome="enrolled_elsewhere", note="亭湖")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "走访结果为“异地参保”时须上传证明材料照片" in html and "参保凭证截图" in html
    assert "亭湖" in html and visits_of(app, zhang.file_id) == []
    # An outcome whose evidence is optional needs none.
    assert submit(login("fc_grid1"), zhang.file_id, outcome="wrong_info").status_code == 302


# --- pending uploads: nothing is lost ------------------------------------------------------------


def test_a_good_image_beside_a_bad_one_is_kept_and_attached_on_the_next_submit(app, login, task):
    zhang = task()
    client = login("fc_grid1")
    form = form_of(client, zhang.file_id)
    response = submit(
        client,
        zhang.file_id,
        form,
        outcome="deceased",
        note="火化证明在家属处",
        files=[(jpeg_bytes(800, 600), "好.jpg"), (b"%PDF-1.4 nope", "坏.jpg")],
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "“坏.jpg”不是可识别的图片" in html
    (pending,) = evidence_rows(app)
    assert pending.visit_id is None and pending.form_key == form["idempotency_key"]
    assert "已上传 1 张，保存走访记录时一并提交。" in html
    assert f"/evidence/{pending.id}/thumb" in html and "火化证明在家属处" in html
    # The worker submits again (the same form, no new file): the visit carries the image.
    response = submit(client, zhang.file_id, form, outcome="deceased", note="火化证明在家属处")
    assert response.status_code == 302
    (visit,) = visits_of(app, zhang.file_id)
    (attached,) = evidence_rows(app)
    assert (attached.id, attached.visit_id, attached.form_key) == (pending.id, visit.id, None)


def test_upload_first_then_remove_one_then_save(app, login, task):
    zhang = task()
    client = login("fc_grid1")
    form = form_of(client, zhang.file_id)
    response = submit(
        client,
        zhang.file_id,
        form,
        upload_only="1",
        files=[(jpeg_bytes(300, 200), "1.jpg"), (jpeg_bytes(300, 200), "2.jpg")],
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "已上传 2 张照片" in html
    assert "请选择走访结果" not in html  # only the images count when uploading first
    first, second = evidence_rows(app)
    response = submit(client, zhang.file_id, form, outcome="deceased", drop_evidence=str(first.id))
    assert response.status_code == 302
    (kept,) = evidence_rows(app)
    assert kept.id == second.id and kept.visit_id is not None


def test_pending_images_are_purged_attached_evidence_is_kept(app, login, task, make_proposal):
    from portal.storage.purge import purge

    made, visit_id = make_proposal()
    zhang = task()
    submit(login("fc_grid1"), zhang.file_id, upload_only="1", files=[(jpeg_bytes(50, 50), "p")])
    (pending,) = evidence_rows(app, file_id=zhang.file_id)
    (attached,) = evidence_rows(app, visit_id=visit_id)
    with database(app) as session:
        for row in session.scalars(select(VisitEvidence)):
            row.uploaded_at = utcnow() - timedelta(days=400)  # older than every retention
    with app.test_request_context():
        result = purge(now=utcnow())
        assert pending.storage_key in result.stored
        assert attached.storage_key not in result.stored
        assert store().exists(attached.storage_key)
        assert not store().exists(pending.storage_key)
        db.session.commit()  # as `portal files purge` does
    assert [row.id for row in evidence_rows(app)] == [attached.id]


# --- the review: thumbnails, waiver, four eyes ---------------------------------------------------


def test_the_review_queue_and_the_history_show_the_evidence(app, login, make_proposal):
    made, visit_id = make_proposal(evidence=2)
    rows = evidence_rows(app, visit_id=visit_id)
    supervisor = login("fc_supervisor")
    queue = supervisor.get(REVIEWS).get_data(as_text=True)
    item = queue[queue.index(f'id="visit-{visit_id}"') :]
    item = item[: item.index("</li>")]
    assert "证据 2 张" in item and "豁免原因" not in item
    for row in rows:
        assert f'href="/evidence/{row.id}"' in item and f'src="/evidence/{row.id}/thumb"' in item
    supervisor.post(f"/desk/reviews/{visit_id}", data={"decision": "approve"})
    # The file's history (as a visit record: the fixture wrote none) shows them too.
    with database(app) as session:
        session.add(
            PersonChange(
                person_id=made.person_id,
                region_code="320923001001",
                cause="visit",
                batch_id=visit_id,
                changes={"visit_outcome": [None, "deceased"]},
            )
        )
    page = supervisor.get(f"/persons/{made.person_id}").get_data(as_text=True)
    history = page[page.index("变更记录") :]
    assert "证据 2 张" in history and f'src="/evidence/{rows[0].id}/thumb"' in history


def test_approving_without_required_evidence_needs_a_waiver_reason(app, login, make_proposal):
    made, visit_id = make_proposal(evidence=0)
    supervisor = login("fc_supervisor")
    queue = supervisor.get(REVIEWS).get_data(as_text=True)
    assert "证据 0 张" in queue and "缺少证明材料" in queue and 'name="waiver"' in queue
    response = supervisor.post(f"/desk/reviews/{visit_id}", data={"decision": "approve"})
    html = response.get_data(as_text=True)
    assert "该申请没有证明材料" in html and "请填写豁免原因" in html
    assert file_of(app, made.file_id).state == "pending_review"
    response = supervisor.post(
        f"/desk/reviews/{visit_id}",
        data={"decision": "approve", "waiver": "已在公安户籍系统核实注销"},
    )
    assert response.status_code == 302
    assert file_of(app, made.file_id).state == "exempt"
    (visit,) = fetch(app, select(Visit).where(Visit.id == visit_id))
    assert visit.evidence_waiver == "已在公安户籍系统核实注销"
    (event,) = fetch(app, select(AuditEvent).where(AuditEvent.action == "file.review"))
    assert event.detail["waiver"] == "已在公安户籍系统核实注销"
    assert event.detail["evidence"] == 0
    page = supervisor.get(f"/persons/{made.person_id}").get_data(as_text=True)
    assert "证明材料豁免原因" in page and "已在公安户籍系统核实注销" in page


def test_returning_needs_no_waiver_and_evidence_makes_it_unneeded(app, login, make_proposal):
    _, no_evidence = make_proposal(evidence=0)
    _, with_evidence = make_proposal(evidence=1)
    supervisor = login("fc_supervisor")
    response = supervisor.post(
        f"/desk/reviews/{no_evidence}", data={"decision": "return", "comment": "请补拍死亡证明"}
    )
    assert response.status_code == 302
    response = supervisor.post(
        f"/desk/reviews/{with_evidence}", data={"decision": "approve", "waiver": "无需"}
    )
    assert response.status_code == 302
    (visit,) = fetch(app, select(Visit).where(Visit.id == with_evidence))
    assert visit.evidence_waiver is None  # nothing to waive: not recorded


def test_four_eyes_still_holds_with_evidence_and_a_waiver(app, login, make_file):
    made = make_file(state="assigned", assignee="fc_grid1")
    supervisor = login("fc_supervisor")
    response = submit(
        supervisor, made.file_id, outcome="deceased", files=[(jpeg_bytes(400, 300), "a.jpg")]
    )
    assert response.status_code == 302
    (visit,) = visits_of(app, made.file_id)
    response = supervisor.post(
        f"/desk/reviews/{visit.id}", data={"decision": "approve", "waiver": "本人核实"}
    )
    assert "须由他人审核" in response.get_data(as_text=True)
    assert file_of(app, made.file_id).state == "pending_review"
    assert (
        login("fn_staff")
        .post(f"/desk/reviews/{visit.id}", data={"decision": "approve"})
        .status_code
        == 302
    )
    assert file_of(app, made.file_id).state == "exempt"


# --- serving: scope, headers, audit, owner-only --------------------------------------------------


@pytest.fixture
def outside_county_staff(app):
    """County staff of 亭湖区 (another county of Yancheng)."""
    with database(app):
        seed_accounts([DemoAccount("th_staff", "亭湖区经办", "county_staff", "320902000000")])
    return "th_staff"


def test_the_evidence_url_is_scoped_like_the_file(app, login, make_proposal, outside_county_staff):
    _, visit_id = make_proposal(evidence=1)
    (row,) = evidence_rows(app, visit_id=visit_id)
    url = f"/evidence/{row.id}"
    for username in ("fc_grid1", "fc_supervisor", "fn_staff", "yc_staff"):
        client = login(username)
        assert client.get(url).status_code == 200, username
        assert client.get(url + "/thumb").status_code == 200, username
    # Another community's grid worker, the sibling township's supervisor, another county's
    # staff: not found (not forbidden); the two officers have no person.view at all.
    for username in ("fc_grid2", "wt_supervisor", outside_county_staff, "th_grid"):
        client = login(username)
        assert client.get(url).status_code == 404, username
        assert client.get(url + "/thumb").status_code == 404, username
    assert login("js_auditor").get(url).status_code == 403
    assert login("fc_grid1").get("/evidence/999999").status_code == 404


def test_pending_images_are_seen_by_their_uploader_only(app, login, task):
    zhang = task()
    worker = login("fc_grid1")
    submit(worker, zhang.file_id, upload_only="1", files=[(jpeg_bytes(60, 60), "p.jpg")])
    (pending,) = evidence_rows(app)
    assert worker.get(f"/evidence/{pending.id}/thumb").status_code == 200
    assert login("fc_supervisor").get(f"/evidence/{pending.id}").status_code == 404


def test_the_image_is_never_cached_or_sniffed_and_each_view_is_audited(app, login, make_proposal):
    _, visit_id = make_proposal(evidence=1)
    (row,) = evidence_rows(app, visit_id=visit_id)
    client = login("fc_supervisor")
    response = client.get(f"/evidence/{row.id}")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(response.data)).format == "JPEG"
    thumb = client.get(f"/evidence/{row.id}/thumb")
    assert thumb.headers["Cache-Control"] == "private, no-store"
    assert max(Image.open(io.BytesIO(thumb.data)).size) <= app.config["EVIDENCE_THUMB_SIDE"]
    client.get(f"/evidence/{row.id}")
    events = fetch(app, select(AuditEvent).where(AuditEvent.action == "evidence.view"))
    assert len(events) == 2  # each full view; thumbnails are not audited
    assert {e.target_id for e in events} == {str(row.id)}
    assert events[0].region_code == "320923001001" and events[0].detail["visit_id"] == visit_id
    # A refused look is an audit event too (rate-limited).
    login("fc_grid2").get(f"/evidence/{row.id}")
    denied = fetch(app, select(AuditEvent).where(AuditEvent.action == "access.denied"))
    assert [e.target_type for e in denied] == ["evidence"]


def test_stored_images_are_owner_only(app, login, task):
    zhang = task()
    submit(login("fc_grid1"), zhang.file_id, outcome="deceased", files=[(jpeg_bytes(90, 90), "a")])
    (row,) = evidence_rows(app)
    with app.test_request_context():
        files = store()
        if not isinstance(files, LocalStorage):  # the database store (PostgreSQL): rows
            assert files.exists(row.storage_key)
            assert files.location(row.storage_key).startswith("数据库文件存储")
            return
        path = files.path(row.storage_key)
        instance = os.path.realpath(app.config["INSTANCE_DIR"])
    assert os.path.realpath(path).startswith(instance + os.sep)  # never under the web root
    assert "static" not in path.parts
    for stored in (path, path.with_name(path.stem + "-thumb.jpg")):
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
