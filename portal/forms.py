"""The base form of the portal: WTForms' own messages in Chinese, and dropdown options."""

from flask_wtf import FlaskForm
from wtforms import SelectChoice


class PortalForm(FlaskForm):
    """Every form of the portal derives from this one."""

    class Meta:
        locales = ("zh",)  # WTForms ships Chinese messages ("不是有效的选择" …)


class SearchForm(PortalForm):
    """A GET filter form: no CSRF token, read from the query string."""

    class Meta:
        csrf = False
        locales = ("zh",)


def options(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms choices."""
    return [SelectChoice(value, label) for value, label in pairs]
