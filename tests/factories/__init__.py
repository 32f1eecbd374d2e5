"""What more than one test module builds or reads: ID numbers, persons, task files, import
workbooks and uploads, comparisons, visits, pages. One module per subject, every name
re-exported here (`from tests.factories import make_id, create_task`).

Test modules import from here or from the other helper modules (tests/helpers.py, …), never
from one another (tests/test_house.py checks); fixtures shared by several modules live in
tests/conftest.py.
"""

from tests.factories.comparisons import (
    COMPARED_ON,
    COMPARED_YEAR,
    a_file,
    enroll,
    file_of,
    files_of,
    person,
    populate,
    run,
    worker_id,
)
from tests.factories.ids import FULL_ID, FULL_MOBILE, make_id
from tests.factories.imports import (
    BAD_CHECK,
    BAD_DATE,
    EXPECTED_REJECTIONS,
    FULLWIDTH,
    GOOD,
    LOWER_X,
    SPACED,
    child_processes,
    household_workbook,
    insured_workbook,
    key_population_workbook,
    latest_batch,
    run_comparison,
    run_jobs,
    upload,
    upload_kind,
    workbook,
)
from tests.factories.pages import csrf_on, form_token, header_token, parse
from tests.factories.persons import Made, create_person
from tests.factories.places import FUNING, WUTAN, XINGFU, XINSHENG, YEAR
from tests.factories.tasks import Task, create_task, names_in_list
from tests.factories.visits import HIDDEN, form_of, submit

__all__ = [
    "BAD_CHECK",
    "BAD_DATE",
    "COMPARED_ON",
    "COMPARED_YEAR",
    "EXPECTED_REJECTIONS",
    "FULLWIDTH",
    "FULL_ID",
    "FULL_MOBILE",
    "FUNING",
    "GOOD",
    "HIDDEN",
    "LOWER_X",
    "SPACED",
    "WUTAN",
    "XINGFU",
    "XINSHENG",
    "YEAR",
    "Made",
    "Task",
    "a_file",
    "child_processes",
    "create_person",
    "create_task",
    "csrf_on",
    "enroll",
    "file_of",
    "files_of",
    "form_of",
    "form_token",
    "header_token",
    "household_workbook",
    "insured_workbook",
    "key_population_workbook",
    "latest_batch",
    "make_id",
    "names_in_list",
    "parse",
    "person",
    "populate",
    "run",
    "run_comparison",
    "run_jobs",
    "submit",
    "upload",
    "upload_kind",
    "workbook",
    "worker_id",
]
