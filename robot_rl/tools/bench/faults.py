"""``robot-rl bench faults``: the fault-injection campaign of :mod:`robot_rl.tools.faults` over real DDS (a
``sim_train`` run in separate processes): the table of faults injected and survived, transitions lost and
duplicated, and the worst time to the safe state against the budget (watchdog period + one control period)."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

from robot_rl.tools.bench.cli import emit


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_campaign(out: Path | None = None, only: tuple[str, ...] | None = None, **kw) -> dict:
    """The campaign in ``out`` (a temporary folder, removed afterwards, if None): its summary, with the nodes' exit
    codes at the final shutdown."""
    import shutil
    import tempfile

    from robot_rl.tools.faults import Campaign, check_fault_names

    check_fault_names(only)  # before anything starts
    old_handler = signal.signal(signal.SIGTERM, _interrupt)  # a terminated campaign still stops its nodes
    tmp = Path(out) if out else Path(tempfile.mkdtemp(prefix="robot_rl_faults_"))
    c = Campaign(tmp, **kw)
    try:
        try:
            c.start()
            c.run_all(only)
        finally:
            codes = c.stop_nodes()
        result = c.summary(c.tally())
    finally:
        c.stop_probe()
        signal.signal(signal.SIGTERM, old_handler)
    result["exit_codes_at_shutdown"] = codes
    if out is None:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def run(a) -> dict:
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if a.json else print
    only = tuple(x for x in a.only.split(",") if x) or None
    return run_campaign(Path(a.out) if a.out else None, only, flood_s=a.flood_s, freeze_s=a.freeze_s, log=log)


def add_parser(sub) -> None:
    p = sub.add_parser("faults", help="fault injection over DDS during sim_train: kill -9 / restart each node, "
                                      "freeze the learner, malformed floods, corrupt checkpoint / replay / config")
    p.add_argument("--flood-s", type=float, default=2.0, help="seconds of malformed messages per topic")
    p.add_argument("--freeze-s", type=float, default=5.0, help="seconds the learner is stopped (SIGSTOP)")
    p.add_argument("--only", default="", help="comma-separated fault names (default: all; a wrong name lists them)")
    p.add_argument("--out", default="", help="keep the run's folder (learner, spool, logs) here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda a: emit(run(a), a.json))

