"""一人一档 portal: the application factory."""

from flask import Flask

from portal import config as portal_config


def create_app(config: dict | None = None) -> Flask:
    """Build the application; `config` overrides the environment (tests pass their own)."""
    app = Flask(__name__)
    register_config(app, config)
    register_extensions(app)
    register_request_cycle(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def register_config(app: Flask, overrides: dict | None) -> None:
    """Environment first, then explicit overrides."""
    app.config.from_mapping(portal_config.from_environment())
    if overrides:
        app.config.from_mapping(overrides)
    app.config["SQLALCHEMY_DATABASE_URI"] = portal_config.normalize_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    hops = app.config.get("PROXY_HOPS", 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def register_extensions(app: Flask) -> None:
    """Bind the database, migrations, login manager and CSRF protection."""
    from portal import database
    from portal.extensions import csrf, db, login_manager, migrate

    db.init_app(app)
    database.configure_engines(app)
    migrate.init_app(app, db, directory=str(portal_config.PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = None  # mobile networks change IP; sessions are server-side
    from portal.accounts import sessions

    login_manager.user_loader(sessions.load)
    from portal.jobs import queue

    queue.install(app)
    from portal import storage

    storage.install(app)


def register_blueprints(app: Flask) -> None:
    """One blueprint per feature."""
    from portal.accounts.views import bp as auth_bp
    from portal.audit.views import bp as audit_bp
    from portal.comparisons.views import bp as comparisons_bp
    from portal.dashboard.views import bp as dashboard_bp
    from portal.desk.views import bp as desk_bp
    from portal.duplicates.views import bp as duplicates_bp
    from portal.home.views import bp as home_bp
    from portal.imports.views import bp as imports_bp
    from portal.notices.views import bp as notices_bp
    from portal.persons.views import bp as persons_bp
    from portal.regions.views import bp as regions_bp
    from portal.reports.routes import bp as reports_bp
    from portal.targets.views import bp as targets_bp
    from portal.tasks.views import bp as tasks_bp
    from portal.users.views import bp as users_bp
    from portal.visits.views import bp as evidence_bp
    from portal.years.views import bp as years_bp

    for bp in (
        auth_bp,
        home_bp,
        regions_bp,
        users_bp,
        audit_bp,
        imports_bp,
        comparisons_bp,
        persons_bp,
        tasks_bp,
        desk_bp,
        years_bp,
        dashboard_bp,
        targets_bp,
        evidence_bp,
        duplicates_bp,
        notices_bp,
        reports_bp,
    ):
        app.register_blueprint(bp)


def register_request_cycle(app: Flask) -> None:
    """One commit per request, after the permission guard."""
    from portal import request_cycle

    request_cycle.install(app)


def register_error_handlers(app: Flask) -> None:
    """Chinese error pages."""
    from portal import errors

    errors.install(app)


def register_template_helpers(app: Flask) -> None:
    """Permission checks, masking and dates for templates."""
    from portal import template_helpers

    template_helpers.install(app)
    from portal import static_files

    static_files.install(app)


def register_commands(app: Flask) -> None:
    """CLI: regions, users, demo."""
    from portal.comparisons.cli import compare_command
    from portal.demo import demo_command
    from portal.duplicates.cli import duplicates_cli
    from portal.imports.cli import import_command
    from portal.jobs.cli import schedule_cli, worker_command
    from portal.notices.cli import notices_cli
    from portal.regions.cli import regions_cli
    from portal.stats.cli import stats_cli
    from portal.storage.purge import files_cli
    from portal.users.cli import users_cli

    app.cli.add_command(regions_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(schedule_cli)
    app.cli.add_command(import_command)
    app.cli.add_command(compare_command)
    app.cli.add_command(stats_cli)
    app.cli.add_command(files_cli)
    app.cli.add_command(duplicates_cli)
    app.cli.add_command(notices_cli)
