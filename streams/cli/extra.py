"""Subcommands registered beside their subsystems (``streams.cli.main._extensions`` reads
``REGISTER``)."""

from streams.cli.sim_commands import register as _sim

REGISTER = [_sim]
