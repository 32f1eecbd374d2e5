"""Every route of the reports blueprint: the forms' (views.py) and, when present, the
submission workflow's (submission_views.py), both on the one `bp` (blueprint.py)."""

from importlib import import_module
from importlib.util import find_spec

from portal.reports import views  # noqa: F401  (registers the forms' routes)
from portal.reports.blueprint import bp

if find_spec("portal.reports.submission_views") is not None:
    import_module("portal.reports.submission_views")

__all__ = ["bp"]
