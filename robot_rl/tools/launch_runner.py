"""A runner for the subset of ROS 2's YAML launch format this project uses (the ROS ``launch`` package is not
on PyPI). The same files run unchanged under ``ros2 launch robot_rl <file>`` on a full ROS install.

Supported::

    launch:
    - arg: {name: task, default: reach, description: "..."}     # declared args, overridable with name:=value
    - node:
        pkg: robot_rl
        exec: twin_node                       # -> python -m <module> (see NODE_EXECUTABLES / module search)
        name: twin                            # -> --ros-args -r __node:=twin
        namespace: sim                        # -> -r __ns:=/sim (relative topic names move under it)
        output: screen                        # accepted (output is always forwarded, prefixed with the name)
        args: "--flag value"                  # before --ros-args
        param:
        - {name: task, value: $(var task)}    # -> -p task:=reach
        - {from: $(find-pkg-share robot_rl)/launch/params/sim_train.yaml}   # -> --params-file (keys /**/<name>)
        remap:
        - {from: /arm/target_pose, to: /arm2/target_pose}                   # -> -r from:=to

Substitutions: ``$(var NAME)``, ``$(env NAME)`` / ``$(env NAME DEFAULT)``, ``$(find-pkg-share robot_rl)``.
Anything else (another tag, attribute or substitution) is refused with an error that names it.

Nodes run as separate processes in their own process groups; SIGINT/SIGTERM to the runner sends SIGINT to every
node, then SIGTERM, then SIGKILL after ``shutdown_timeout_s``.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PACKAGE = "robot_rl"
REPO_ROOT = Path(__file__).resolve().parents[2]  # the source checkout (launch/ lives there)
# Executable name -> python module, for the nodes this package ships. Others are searched as <pkg dir>/<exec>.py.
NODE_EXECUTABLES = {
    "twin_node": "robot_rl.sim.twin_node",
    "actor_node": "robot_rl.runtime.actor_node",
    "learner_node": "robot_rl.runtime.learner_node",
    "scripted_human_node": "robot_rl.runtime.scripted_human_node",
    "teleop_node": "robot_rl.drivers.teleop_node",
    "franka_node": "robot_rl.drivers.franka_node",
    "camera_node": "robot_rl.drivers.camera_node",
    "latency_probe_node": "robot_rl.runtime.latency_probe_node",
}
SEARCH_PACKAGES = ("robot_rl", "robot_rl.sim", "robot_rl.drivers", "robot_rl.calibration")

NODE_KEYS = {"pkg", "exec", "name", "namespace", "param", "remap", "args", "output"}
ARG_KEYS = {"name", "default", "description"}
_SUBST = re.compile(r"\$\(([^()]*)\)")


class LaunchError(ValueError):
    """A launch file this runner cannot run (unsupported tag, attribute or substitution; missing arg; ...)."""


@dataclass
class NodeSpec:
    pkg: str
    executable: str
    module: str
    name: str | None = None
    namespace: str | None = None
    params: list[tuple[str, object]] = field(default_factory=list)
    params_files: list[Path] = field(default_factory=list)
    remaps: list[tuple[str, str]] = field(default_factory=list)
    args: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``name`` (or the executable), under its namespace: ``left/actor`` (output prefix, ``procs`` key)."""
        base = self.name or self.executable
        ns = (self.namespace or "").strip("/")
        return f"{ns}/{base}" if ns else base

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", self.module, *self.args, "--ros-args"]
        if self.name:
            cmd += ["-r", f"__node:={self.name}"]
        if self.namespace:
            ns = self.namespace if self.namespace.startswith("/") else "/" + self.namespace
            cmd += ["-r", f"__ns:={ns}"]
        for f in self.params_files:
            cmd += ["--params-file", str(f)]
        for k, v in self.params:
            cmd += ["-p", f"{k}:={_param_literal(v)}"]
        for a, b in self.remaps:
            cmd += ["-r", f"{a}:={b}"]
        return cmd


def _param_literal(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_param_literal(x) for x in v) + "]"
    return str(v)


def package_share() -> Path:
    """Where this package's launch files live: the ament share folder if installed with colcon, else the repo."""
    try:
        from ament_index_python.packages import get_package_share_directory

        d = Path(get_package_share_directory(PACKAGE))
        if (d / "launch").is_dir():
            return d
    except (ImportError, LookupError, ValueError, OSError):
        pass
    return REPO_ROOT


def substitute(text: str, variables: dict[str, str], where: str) -> str:
    def repl(m: re.Match) -> str:
        parts = m.group(1).split()
        if not parts:
            raise LaunchError(f"{where}: empty substitution $()")
        kind, rest = parts[0], parts[1:]
        if kind == "var" and len(rest) == 1:
            if rest[0] not in variables:
                raise LaunchError(f"{where}: $(var {rest[0]}) is not a declared arg")
            return variables[rest[0]]
        if kind == "env" and len(rest) in (1, 2):
            if rest[0] in os.environ:
                return os.environ[rest[0]]
            if len(rest) == 2:
                return rest[1]
            raise LaunchError(f"{where}: environment variable {rest[0]} is not set and has no default")
        if kind == "find-pkg-share" and len(rest) == 1:
            if rest[0] != PACKAGE:
                raise LaunchError(f"{where}: $(find-pkg-share {rest[0]}): only {PACKAGE} can be found here")
            return str(package_share())
        raise LaunchError(f"{where}: unsupported substitution $({m.group(1)}) "
                          "(supported: $(var NAME), $(env NAME [DEFAULT]), $(find-pkg-share robot_rl))")

    return _SUBST.sub(repl, text)


def _subst_value(v, variables, where):
    """Substitute inside strings; a string that was only a substitution is re-read as YAML (numbers, bools)."""
    if isinstance(v, str):
        out = substitute(v, variables, where)
        if out != v:
            try:
                parsed = yaml.safe_load(out)
            except yaml.YAMLError:
                return out
            return parsed if isinstance(parsed, (int, float, bool)) else out
        return v
    if isinstance(v, list):
        return [_subst_value(x, variables, where) for x in v]
    return v


def resolve_module(pkg: str, executable: str) -> str:
    if pkg != PACKAGE:
        raise LaunchError(f"node pkg {pkg!r}: this runner runs {PACKAGE} nodes only")
    if executable in NODE_EXECUTABLES:
        return NODE_EXECUTABLES[executable]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", executable):
        raise LaunchError(f"node exec {executable!r} is not a valid executable name")
    for top in SEARCH_PACKAGES:
        spec = importlib.util.find_spec(top)
        for d in (spec.submodule_search_locations or []) if spec else []:
            for path in sorted(Path(d).rglob(f"{executable}.py")):
                rel = path.relative_to(d).with_suffix("")
                return ".".join((top, *rel.parts))
    raise LaunchError(f"node exec {executable!r}: no such executable in {PACKAGE} "
                      f"(known: {', '.join(sorted(NODE_EXECUTABLES))}; or a {executable}.py module)")


def parse_launch(path: str | Path, overrides: dict[str, str] | None = None) -> tuple[list[NodeSpec], dict[str, str]]:
    """Parse and check a launch file; returns the nodes and the resolved args. Raises :class:`LaunchError`."""
    path = Path(path)
    where = str(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise LaunchError(f"{where}: not valid YAML: {e}") from None
    if not isinstance(doc, dict) or set(doc) != {"launch"} or not isinstance(doc["launch"], list):
        raise LaunchError(f"{where}: a launch file is a mapping with one key 'launch' holding a list")
    overrides = dict(overrides or {})
    variables: dict[str, str] = {}
    declared: set[str] = set()
    nodes: list[NodeSpec] = []
    for i, entry in enumerate(doc["launch"]):
        w = f"{where}: entry {i}"
        if not isinstance(entry, dict) or len(entry) != 1:
            raise LaunchError(f"{w}: each entry is a mapping with exactly one tag")
        (tag, body), = entry.items()
        if tag == "arg":
            _check_keys(body, ARG_KEYS, f"{w} (arg)", required={"name"})
            name = str(body["name"])
            declared.add(name)
            if name in overrides:
                variables[name] = str(overrides[name])
            elif "default" in body:
                variables[name] = substitute(str(body["default"]), variables, f"{w} (arg {name})")
            else:
                raise LaunchError(f"{w}: arg {name!r} has no default and was not given ({name}:=VALUE)")
        elif tag == "node":
            nodes.append(_parse_node(body, variables, w))
        else:
            raise LaunchError(f"{w}: unsupported launch tag {tag!r} (supported: arg, node)")
    unknown = set(overrides) - declared
    if unknown:
        raise LaunchError(f"{where}: unknown launch argument(s) {', '.join(sorted(unknown))} "
                          f"(declared: {', '.join(sorted(declared)) or 'none'})")
    return nodes, variables


def _check_keys(body, allowed: set[str], where: str, required: set[str] = frozenset()) -> None:
    if not isinstance(body, dict):
        raise LaunchError(f"{where}: expected a mapping")
    extra = set(body) - allowed
    if extra:
        raise LaunchError(f"{where}: unsupported attribute(s) {', '.join(sorted(extra))} "
                          f"(supported: {', '.join(sorted(allowed))})")
    missing = set(required) - set(body)
    if missing:
        raise LaunchError(f"{where}: missing {', '.join(sorted(missing))}")


def _parse_node(body, variables, w) -> NodeSpec:
    _check_keys(body, NODE_KEYS, f"{w} (node)", required={"pkg", "exec"})
    s = lambda v, what: substitute(str(v), variables, f"{w} ({what})")  # noqa: E731
    pkg, exe = s(body["pkg"], "pkg"), s(body["exec"], "exec")
    node = NodeSpec(pkg=pkg, executable=exe, module=resolve_module(pkg, exe))
    w = f"{w} (node {body.get('name', exe)})"
    if "name" in body:
        node.name = s(body["name"], "name")
    if "namespace" in body:
        node.namespace = s(body["namespace"], "namespace")
    if "args" in body:
        node.args = shlex.split(s(body["args"], "args"))
    for p in body.get("param") or []:
        if isinstance(p, dict) and set(p) == {"from"}:
            f = Path(s(p["from"], "param from"))
            if not f.is_file():
                raise LaunchError(f"{w}: params file {f} does not exist")
            _check_params_file(f)
            node.params_files.append(f)
        elif isinstance(p, dict) and set(p) == {"name", "value"}:
            node.params.append((str(p["name"]), _subst_value(p["value"], variables, w)))
        else:
            raise LaunchError(f"{w}: a param is {{name, value}} or {{from: FILE}}, got {p!r}")
    for r in body.get("remap") or []:
        if not (isinstance(r, dict) and set(r) == {"from", "to"}):
            raise LaunchError(f"{w}: a remap is {{from, to}}, got {r!r}")
        node.remaps.append((s(r["from"], "remap"), s(r["to"], "remap")))
    return node


def _check_params_file(path: Path) -> None:
    """A ROS 2 params file: ``<node name or /**>: {ros__parameters: {...}}``."""
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise LaunchError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(doc, dict) or not doc:
        raise LaunchError(f"{path}: a params file maps node names to {{ros__parameters: ...}}")
    for node, body in doc.items():
        if not isinstance(body, dict) or "ros__parameters" not in body or not isinstance(body["ros__parameters"], dict):
            raise LaunchError(f"{path}: entry {node!r} lacks a ros__parameters mapping")


def check_modules(nodes: list[NodeSpec]) -> None:
    """Every node's module exists (imports nothing)."""
    for n in nodes:
        try:
            found = importlib.util.find_spec(n.module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise LaunchError(f"node {n.label}: module {n.module} not found")


class LineBuffer:
    """A thread-safe ``out`` for :class:`LaunchRunner` that keeps every prefixed output line (tests, benches)."""

    def __init__(self):
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def write(self, s: str) -> None:
        with self.lock:
            self.lines.append(s)

    def flush(self) -> None:
        pass


class LaunchRunner:
    """Starts the nodes, forwards their output prefixed with ``[name]``, stops them all on shutdown."""

    def __init__(self, nodes: list[NodeSpec], env: dict[str, str] | None = None, shutdown_timeout_s: float = 10.0,
                 out=None):
        self.nodes = nodes
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.shutdown_timeout_s = shutdown_timeout_s
        self.out = out or sys.stdout
        self.procs: dict[str, subprocess.Popen] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        labels = [n.label for n in self.nodes]
        for n in self.nodes:
            label = n.label if labels.count(n.label) == 1 else f"{n.label}-{len(self.procs)}"
            p = subprocess.Popen(n.command(), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            self.procs[label] = p
            t = threading.Thread(target=self._pump, args=(label, p), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, label: str, p: subprocess.Popen) -> None:
        for line in iter(p.stdout.readline, b""):
            with self._lock:
                self.out.write(f"[{label}] {line.decode(errors='replace')}")
                self.out.flush()
        p.stdout.close()

    def wait(self, poll_s: float = 0.2) -> dict[str, int]:
        """Until every node has exited; returns their exit codes."""
        while any(p.poll() is None for p in self.procs.values()):
            time.sleep(poll_s)
        return {k: p.returncode for k, p in self.procs.items()}

    def shutdown(self) -> dict[str, int]:
        """SIGINT to every node, then SIGTERM, then SIGKILL; returns the exit codes."""
        for sig, wait_s in ((signal.SIGINT, self.shutdown_timeout_s), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            alive = [p for p in self.procs.values() if p.poll() is None]
            if not alive:
                break
            for p in alive:
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and any(p.poll() is None for p in alive):
                time.sleep(0.05)
        for t in self._threads:
            t.join(timeout=2.0)
        return {k: p.returncode for k, p in self.procs.items()}

    def run(self) -> int:
        """Start, wait, and shut everything down on SIGINT/SIGTERM; the worst node exit code (0 if all clean)."""
        stop = threading.Event()
        old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            while not stop.is_set() and any(p.poll() is None for p in self.procs.values()):
                stop.wait(0.2)
        finally:
            codes = self.shutdown()
            for s, h in old.items():
                signal.signal(s, h)
        if stop.is_set():
            return 0 if all(c in (0, -signal.SIGINT, 130) for c in codes.values()) else 1
        return max((abs(c) for c in codes.values()), default=0)


def parse_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for it in items:
        if ":=" not in it:
            raise LaunchError(f"launch argument {it!r}: expected NAME:=VALUE")
        k, v = it.split(":=", 1)
        out[k] = v
    return out


def launch_files() -> list[Path]:
    return sorted((package_share() / "launch").glob("*.yaml"))
