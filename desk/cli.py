"""The `desk` console command: a Flask CLI group over the app that `create_app` builds."""
import os
import sys

import click
from flask.cli import FlaskGroup

from desk import create_app


def _create_app():
    if len(sys.argv) < 2 or "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        # Printing help runs nothing: it needs no secret, so a newcomer can read it first.
        return create_app({"SECRET_KEY": os.environ.get("DESK_SECRET_KEY") or "help-only"})
    try:
        return create_app()
    except RuntimeError as exc:  # a configuration mistake: say it, without a traceback
        raise click.ClickException(str(exc)) from None


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             help="The desk: a response desk for social-media customer service.")
def main():
    pass
