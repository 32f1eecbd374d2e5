"""What the commands acting as a user share: finding the user and the region by name/code."""

import click
from sqlalchemy import select

from portal.accounts.models import User
from portal.extensions import db
from portal.regions.models import Region


def acting_user(username: str) -> User:
    actor = db.session.scalar(select(User).where(User.username == username.lower()))
    if actor is None or not actor.active:
        raise click.ClickException(f"用户「{username}」不存在或已停用。")
    return actor


def region_by_code(region_code: str) -> Region:
    region = db.session.get(Region, region_code)
    if region is None:
        raise click.ClickException(f"区划「{region_code}」不存在。")
    return region
