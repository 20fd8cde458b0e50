"""The ``robot-rl`` command. Each subcommand lives in its own module that exposes ``add_parser(subparsers)``;
the parser it adds sets ``func`` (called with the parsed args, returns the exit code)."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# module path, for each subcommand group; imported lazily so `robot-rl doctor` works with pieces missing
SUBCOMMAND_MODULES = (
    "robot_rl.tools.commands.doctor_cmd",
    "robot_rl.tools.commands.demo_cmd",
    "robot_rl.tools.bench.cli",
    "robot_rl.tools.commands.train_cmd",
    "robot_rl.tools.commands.launch_cmd",
    "robot_rl.tools.commands.record_demos_cmd",
    "robot_rl.tools.commands.calibrate_cmd",
    "robot_rl.tools.commands.validate_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="robot-rl", description="robot_rl: learn robot skills in the twin and on hardware")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in SUBCOMMAND_MODULES:
        importlib.import_module(mod).add_parser(sub)
    return p


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, no traceback."""


# Errors that mean "bad input" rather than "bug": reported as one line (set ROBOT_RL_DEBUG=1 for the traceback).
USER_ERRORS = (UsageError, ValueError, KeyError, FileNotFoundError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as e:
        if os.environ.get("ROBOT_RL_DEBUG"):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"robot-rl {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
