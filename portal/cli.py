"""The `portal` command: Flask's CLI bound to this application (portal demo, portal db upgrade…)."""

from flask.cli import FlaskGroup

from portal import create_app


def main() -> None:
    FlaskGroup(create_app=create_app, help="一人一档门户命令行。").main()
