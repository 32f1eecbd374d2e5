"""CLI for the first accounts of a deployment (before anyone can sign in to grant roles)."""

import click
from flask.cli import AppGroup

from permissions.grants import level_error, officer_conflict
from permissions.roles import ROLES
from portal.accounts import passwords
from portal.accounts.models import Grant, User
from portal.audit import operations as audit
from portal.extensions import db
from portal.regions.models import Region

users_cli = AppGroup("users", help="账户管理（部署初始化用）。")


@users_cli.command("create")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="姓名")
@click.option("--role", type=click.Choice(list(ROLES)), required=True)
@click.option("--region", "region_code", required=True, help="12 位区划代码")
@click.option("--password", default=None, help="不提供则生成一次性密码")
def create(username, display_name, role, region_code, password):
    """Create an account with one role (e.g. the province admin and security admin)."""
    region = db.session.get(Region, region_code)
    error = level_error(role, region) or officer_conflict({role})
    if error:
        raise click.ClickException(error)
    username = username.strip().lower()
    if db.session.query(User.id).filter(User.username == username).first():
        raise click.ClickException(f"用户名「{username}」已存在。")
    if password:
        problems = passwords.password_problems(password, username)
        if problems:
            raise click.ClickException(" ".join(problems))
    temporary = password or passwords.generate_password()
    user = User(
        username=username,
        display_name=display_name,
        region_code=region.code,
        password_hash=passwords.hash_password(temporary),
        must_change_password=True,
    )
    user.grants.append(Grant(role=role, region_code=region.code))
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user.create",
        actor_username="cli",
        target_type="user",
        target_id=user.id,
        target_label=username,
        region_code=region.code,
        detail={"role": role, "region": region.code, "via": "cli"},
    )
    db.session.commit()
    click.echo(f"已创建 {username}（{ROLES[role].label}，{region.name}）。")
    if not password:
        click.echo(f"一次性密码：{temporary}（首次登录须修改）")
