"""The `portal` command: Flask's CLI bound to this application (portal demo, portal db upgrade…)."""

import atexit
import gc

from flask.cli import FlaskGroup

from portal import create_app


def main() -> None:
    # Registered first, so run last: the interpreter's teardown then skips the garbage
    # collector's passes over the application's hundred thousand objects, which took 0.5-1 s
    # at the end of every command (`portal import` of a big file included) on a slow machine.
    atexit.register(gc.freeze)
    FlaskGroup(create_app=create_app, help="一人一档门户命令行。").main()
