"""下载模板: a template for every list kind, with its header row, an example row that imports
cleanly, the ID column as text, dropdowns for the code lists and a sheet of instructions."""

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from portal.imports.columns import FIELD_BY_NAME, LIST_KINDS, map_columns
from portal.imports.kinds import IMPORTERS
from portal.imports.models import ImportBatch
from portal.persons.codes import KEY_POPULATIONS
from portal.persons.idnumbers import normalize_id_number
from tests.factories import run_jobs, upload_kind
from tests.helpers import fetch

KINDS = list(IMPORTERS)


def download(client, kind: str):
    response = client.get(f"/imports/templates/{kind}.xlsx")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    return load_workbook(io.BytesIO(response.data))


def test_every_kind_has_a_template_linked_from_the_upload_page(login):
    client = login("fn_staff")
    page = client.get("/imports/").get_data(as_text=True)
    assert "下载模板" in page
    for kind in KINDS:
        assert f"/imports/templates/{kind}.xlsx" in page
    assert client.get("/imports/templates/nothing.xlsx").status_code == 404


@pytest.mark.parametrize("kind", KINDS)
def test_the_template_of_each_kind(login, kind):
    workbook = download(login("fn_staff"), kind)
    list_kind = LIST_KINDS[kind]
    sheet, notes = workbook.worksheets
    header = [c.value for c in sheet[1]]
    # Every field of the kind, each header read whole as its field.
    assert map_columns(header, list_kind).fields == {f: i for i, f in enumerate(list_kind.fields)}
    assert map_columns(header, list_kind).complete
    id_letter = sheet.cell(row=1, column=header.index(FIELD_BY_NAME["id_number"].synonyms[0]) + 1)
    letter = id_letter.column_letter
    assert sheet.column_dimensions[letter].number_format == "@"
    assert sheet[f"{letter}2"].number_format == "@"
    example = sheet[f"{letter}2"].value
    assert isinstance(example, str) and normalize_id_number(example).value == example
    assert all(sheet.column_dimensions[c.column_letter].width for c in sheet[1])
    # Dropdowns for the code lists the kind reads.
    lists = {
        str(dv.sqref).split(":")[0].rstrip("0123456789"): dv.formula1
        for dv in sheet.data_validations.dataValidation
        if dv.type == "list"
    }
    expected = {
        "scheme": ["职工医保", "居民医保"],
        "status": ["正常", "暂停", "终止"],
        "category": [k.label for k in KEY_POPULATIONS],
        "sex": ["男", "女"],
    }
    if kind == "insured":  # the insured extract's 人员类别: the keep-rules' person category
        expected["category"] = ["在职", "退休", "灵活就业", "学生", "城乡居民", "其他"]
        expected["benefits"] = ["是", "否"]
    for field, values in expected.items():
        if field in list_kind.fields:
            column = sheet.cell(row=1, column=list_kind.fields.index(field) + 1).column_letter
            assert lists[column] == '"' + ",".join(values) + '"', field
    # 填写说明: each column, required or not, and what it accepts.
    assert notes.title == "填写说明"
    rows = list(notes.iter_rows(min_row=2, values_only=True))
    described = {r[0]: r[1] for r in rows if r and r[0] in header}
    assert set(described) == set(header)
    for field in list_kind.required:
        assert described[FIELD_BY_NAME[field].synonyms[0]] == "必填"


@pytest.mark.parametrize("kind", KINDS)
def test_each_template_imports_cleanly(app, login, kind):
    client = login("fn_staff")
    if kind in ("key_population", "e_credential"):  # they mark persons on file: the register's
        # example first
        upload_kind(client, "household", client.get("/imports/templates/household.xlsx").data)
        run_jobs(app)
    content = client.get(f"/imports/templates/{kind}.xlsx").data
    response = upload_kind(client, kind, content, name=f"{kind}-模板.xlsx")
    assert response.status_code == 302
    run_jobs(app)
    (batch,) = fetch(app, select(ImportBatch).order_by(ImportBatch.id.desc()).limit(1))
    assert batch.state == "succeeded", batch.message
    assert (batch.rows_read, batch.rejected) == (1, 0), batch.message


@pytest.mark.parametrize("actor", ["fc_supervisor", "fc_grid1", "js_auditor"])
def test_templates_are_for_importers(login, actor):
    assert login(actor).get("/imports/templates/household.xlsx").status_code == 403
