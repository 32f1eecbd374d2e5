"""The home page (what this user can do, by role) and the liveness probe."""

from flask import Blueprint, render_template
from flask_login import current_user

from permissions import public, signed_in

bp = Blueprint("home", __name__)


@bp.route("/")
@signed_in
def index():
    return render_template("home/index.html", grants=current_user.grants)


@bp.route("/healthz")
@public
def health():
    """For load balancers: says nothing but that the process answers."""
    return {"status": "ok"}
