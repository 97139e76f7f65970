"""The `desk` command's subcommands, one module per area; `create_app` adds them to `app.cli`."""
from desk.commands import core, customers, demo, escalations, feedback, inbound, replies, sla

AREAS = (core, inbound, replies, sla, escalations, feedback, customers, demo)


def register_commands(app) -> None:
    for module in AREAS:
        for command in module.COMMANDS:
            app.cli.add_command(command)
