"""``robot-rl launch FILE [name:=value ...]``: run a ROS 2 YAML launch file without the ROS launch package."""
from __future__ import annotations

import sys
from pathlib import Path


def _run(a) -> int:
    from robot_rl.tools.launch_runner import (LaunchError, LaunchRunner, check_modules, package_share, parse_launch,
                                        parse_overrides)

    path = Path(a.file)
    if not path.is_file():
        cand = package_share() / "launch" / a.file
        path = cand if cand.is_file() else path
    if not path.is_file():
        raise FileNotFoundError(f"launch file {a.file} not found (nor in {package_share() / 'launch'})")
    try:
        nodes, variables = parse_launch(path, parse_overrides(a.arguments))
        check_modules(nodes)
    except LaunchError as e:
        print(f"robot-rl launch: error: {e}", file=sys.stderr)
        return 2
    if a.check or a.print:
        for n in nodes:
            print(f"{n.label}: {' '.join(n.command()[1:])}")
        print(f"{path}: {len(nodes)} node(s), args {variables}", file=sys.stderr)
        return 0
    return LaunchRunner(nodes, shutdown_timeout_s=a.shutdown_timeout).run()


def add_parser(sub) -> None:
    p = sub.add_parser("launch", help="run a ROS 2 YAML launch file (nodes, args, params files, remaps, namespaces)")
    p.add_argument("file", help="launch file path, or a name in the package's launch/ folder (e.g. sim_train.yaml)")
    p.add_argument("arguments", nargs="*", help="launch arguments NAME:=VALUE")
    p.add_argument("--check", action="store_true", help="validate the file and print the node commands; run nothing")
    p.add_argument("--print", action="store_true", help="same as --check")
    p.add_argument("--shutdown-timeout", type=float, default=10.0,
                   help="seconds to wait after SIGINT before escalating to SIGTERM/SIGKILL")
    p.set_defaults(func=_run)
