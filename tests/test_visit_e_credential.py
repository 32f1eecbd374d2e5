"""帮助激活医保电子凭证 on the visit form: offered while the person's credential is not activated;
ticked, the visit records it, the person is marked (with history) and the figures follow."""

from sqlalchemy import select, update

from portal.extensions import db
from portal.persons.models import Person, PersonChange
from portal.stats import maintain
from portal.stats.figures import region_figures
from portal.visits.models import Visit
from portal.years.selection import current_year
from tests.factories import XINGFU, create_task, submit
from tests.helpers import database, fetch

CHECKBOX = 'name="activated_e_credential"'


def _person(app, person_id: int) -> Person:
    (found,) = fetch(app, select(Person).where(Person.id == person_id))
    return found


def test_ticked_the_visit_activates_the_persons_e_credential(app, login):
    task = create_task(app, "凭证")
    with database(app) as session:
        session.execute(
            update(Person)
            .where(Person.id == task.person_id)
            .values(in_register=True, insured_status="insured")
        )
        maintain.rebuild(session.connection())
    client = login("fc_grid1")
    page = client.get(f"/tasks/{task.file_id}").get_data(as_text=True)
    assert CHECKBOX in page and "帮助激活医保电子凭证" in page
    response = submit(client, task.file_id, outcome="unreachable", activated_e_credential="y")
    assert response.status_code == 302
    assert "已帮助激活医保电子凭证" in client.get("/tasks/").get_data(as_text=True)
    (visit,) = fetch(app, select(Visit).where(Visit.file_id == task.file_id))
    assert visit.activated_e_credential is True
    assert _person(app, task.person_id).e_credential is True
    (change,) = fetch(
        app,
        select(PersonChange).where(
            PersonChange.person_id == task.person_id, PersonChange.cause == "visit"
        ),
    )
    assert change.changes["e_credential"] == [False, True]
    with app.test_request_context():
        connection = db.session.connection()
        for year in maintain.built_years(connection):
            assert maintain.differences(connection, prefix="320923", year=year) == {}
        assert region_figures(XINGFU, current_year()).e_credential == 1
    # Activated now: the next visit is not offered the box.
    page = client.get(f"/tasks/{task.file_id}").get_data(as_text=True)
    assert CHECKBOX not in page
    assert "帮助激活电子凭证" in page  # the visit list says what the first visit did


def test_not_ticked_nothing_changes_and_an_activated_person_is_not_offered_it(app, login):
    task = create_task(app, "未勾选")
    client = login("fc_grid1")
    assert submit(client, task.file_id, outcome="unreachable").status_code == 302
    (visit,) = fetch(app, select(Visit).where(Visit.file_id == task.file_id))
    assert visit.activated_e_credential is False
    assert _person(app, task.person_id).e_credential is False
    done = create_task(app, "已激活")
    with database(app) as session:
        session.execute(update(Person).where(Person.id == done.person_id).values(e_credential=True))
    assert CHECKBOX not in client.get(f"/tasks/{done.file_id}").get_data(as_text=True)
    # A forged tick for an activated person records no activation.
    assert (
        submit(client, done.file_id, outcome="unreachable", activated_e_credential="y").status_code
        == 302
    )
    (visit,) = fetch(app, select(Visit).where(Visit.file_id == done.file_id))
    assert visit.activated_e_credential is False


def test_the_form_works_without_javascript_at_phone_width(app, login):
    """The box is a plain checkbox in a label (a 48-px touch target, .choice), inside the form
    that posts without any script; the draft script keeps it (visit-draft.js restores
    checkboxes by name)."""
    task = create_task(app, "手机")
    page = login("fc_grid1").get(f"/tasks/{task.file_id}").get_data(as_text=True)
    form = page[page.index('<form method="post" action="/tasks/') :]
    form = form[: form.index("</form>")]
    assert '<label class="choice"><input id="activated_e_credential"' in form
    assert 'type="checkbox"' in form
    with app.open_resource("static/visit-draft.js") as script:
        assert b"input[type=checkbox]" in script.read()
