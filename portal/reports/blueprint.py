"""The reports blueprint (报表), shared by the forms' views (views.py) and the submission
workflow's (submission_views.py): both register their routes on this one object."""

from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/reports")
