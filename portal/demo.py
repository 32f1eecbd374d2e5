"""The demo: one command builds a SQLite database with the Yancheng tree and demo accounts."""

from dataclasses import dataclass

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import select
from werkzeug.serving import run_simple

from permissions.roles import ROLES
from portal.accounts import passwords
from portal.accounts.models import Grant, User
from portal.extensions import db

DEMO_PASSWORD = "Yibao@2026"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    role: str
    region_code: str


# One chain (Jiangsu → Yancheng → Funing → Fucheng street → two communities), a second street
# beside Fucheng, the officers, and the staff of Binhai county beside Funing: enough to see
# every role, every out-of-region case, and both sides of a duplicate enrollment.
DEMO_ACCOUNTS = (
    DemoAccount("js_admin", "江苏省管理员", "province_admin", "320000000000"),
    DemoAccount("js_staff", "江苏省经办", "province_staff", "320000000000"),
    DemoAccount("js_security", "江苏省安全管理员", "security_admin", "320000000000"),
    DemoAccount("js_auditor", "江苏省审计员", "auditor", "320000000000"),
    DemoAccount("yc_admin", "盐城市管理员", "city_admin", "320900000000"),
    DemoAccount("yc_staff", "盐城市经办", "city_staff", "320900000000"),
    DemoAccount("fn_admin", "阜宁县管理员", "county_admin", "320923000000"),
    DemoAccount("fn_staff", "阜宁县经办", "county_staff", "320923000000"),
    DemoAccount("fc_supervisor", "阜城街道督导", "township_supervisor", "320923001000"),
    DemoAccount("fc_grid1", "兴阜居委会网格员", "grid_worker", "320923001001"),
    DemoAccount("fc_grid2", "新盛居委会网格员", "grid_worker", "320923001002"),
    DemoAccount("wt_supervisor", "吴滩街道督导", "township_supervisor", "320923002000"),
    DemoAccount("wt_grid1", "吴滩街道网格员", "grid_worker", "320923002001"),
    # The neighbouring county: the other side of a duplicate enrollment shared with Funing.
    DemoAccount("bh_staff", "滨海县经办", "county_staff", "320922000000"),
)


def seed_accounts(accounts=DEMO_ACCOUNTS, password: str = DEMO_PASSWORD) -> dict[str, User]:
    """Create the accounts that do not exist yet (idempotent); no commit."""
    password_hash = passwords.hash_password(password)
    users = {}
    for account in accounts:
        user = db.session.scalar(select(User).where(User.username == account.username))
        if user is None:
            user = User(
                username=account.username,
                display_name=account.display_name,
                region_code=account.region_code,
                password_hash=password_hash,
                must_change_password=False,
            )
            user.grants.append(Grant(role=account.role, region_code=account.region_code))
            db.session.add(user)
        users[account.username] = user
    db.session.flush()
    return users


def prepare() -> None:
    """Migrate, load the shipped Yancheng tree, create the demo accounts, commit."""
    from portal.demo_history import seed_demo_history
    from portal.demo_reports import seed_report_period
    from portal.notices.demo import seed_demo_notices
    from portal.regions.cli import load_shipped_demo_regions

    upgrade()
    load_shipped_demo_regions()
    users = seed_accounts()
    seed_targets(users)
    seed_report_period(users)
    seed_demo_history()
    seed_demo_notices()  # after the history it reads
    db.session.commit()


YANCHENG, FUNING = "320900000000", "320923000000"


def seed_targets(users: dict[str, User]) -> None:
    """Targets for the current insurance year (the one the demo's 比对 compares): Yancheng's
    counties (set by yc_staff) and Funing's townships (set by fn_staff), coverage rates between
    95 % and 98 %. Only where none is set yet (idempotent, a user's own targets stay). Rates, not
    counts: a count must not exceed the population, and the demo has none before its 比对."""
    from portal.regions.models import Region
    from portal.targets.models import RegionTarget
    from portal.years.selection import current_year

    year = current_year()
    for parent, setter, base in ((YANCHENG, "yc_staff", 9500), (FUNING, "fn_staff", 9600)):
        children = db.session.scalars(Region.children_query(parent)).all()
        for index, child in enumerate(children):
            if db.session.get(RegionTarget, (year, child.code)) is None:
                db.session.add(
                    RegionTarget(
                        year=year,
                        region_code=child.code,
                        kind="rate",
                        value=base + (index * 3 % 5) * 50,
                        updated_by_id=users[setter].id,
                    )
                )
    db.session.flush()


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="只准备数据库，不启动服务")
@with_appcontext
def demo_command(host, port, no_serve):
    """Prepare the demo database and serve the portal."""
    prepare()
    from pathlib import Path

    from portal.demo_samples import write_samples

    samples = write_samples(Path(current_app.config["INSTANCE_DIR"]) / "samples")
    click.echo(f"数据库：{current_app.config['SQLALCHEMY_DATABASE_URI']}")
    click.echo("示例名单（合成数据，可用 fn_staff 在“数据导入”上传，再运行“比对”）：")
    for path in samples:
        click.echo(f"  {path}")
    click.echo(f"演示账户（密码均为 {DEMO_PASSWORD}）：")
    for account in DEMO_ACCOUNTS:
        click.echo(
            f"  {account.username:<14} {ROLES[account.role].label:<10} {account.display_name}"
        )
    if no_serve:
        return
    click.echo(f"请在浏览器打开 http://{host}:{port}/ （Ctrl+C 退出）")
    # Flask's app.run() refuses to start inside a `flask`/`portal` CLI command: serve directly.
    run_simple(host, port, current_app._get_current_object(), threaded=True)
