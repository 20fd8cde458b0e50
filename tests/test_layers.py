"""The house rules of DESIGN.md, checked on the source: the import graph points one way, the learning core needs
none of sim / drivers / rclpy / mujoco, only node files import rclpy, no file is over 400 lines, no topic name is a
string literal outside the contract, and nothing generic is installed outside the ``robot_rl`` package."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# source folder -> installed package (setup.py's package_dir)
LAYERS = {"robot_rl": "robot_rl", "contract": "robot_rl.contract", "controllers": "robot_rl.controllers",
          "sim": "robot_rl.sim", "drivers": "robot_rl.drivers", "calibration": "robot_rl.calibration"}
MAX_LINES = 400
# the rclpy helpers that nodes share (DESIGN.md); everything else importing rclpy must be a *_node.py
RCLPY_HELPERS = {"robot_rl.contract.ros_node", "robot_rl.contract.quad_ros_node", "robot_rl.runtime.ros_adapter",
                 "robot_rl.runtime.quad_adapter"}
# the doctor probes whether rclpy works on this machine (in a subprocess-safe try), it is not core code
RCLPY_PROBES = {"robot_rl.tools.doctor"}


def _modules() -> dict[str, Path]:
    out = {}
    for folder, pkg in LAYERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([pkg, *parts])] = path
    return out


MODULES = _modules()


def _imports(mod: str, path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (function-level imports included)."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".")
                base = base if is_pkg else base[:-1]
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            names.add(prefix)
            names.update(f"{prefix}.{a.name}" for a in node.names)
    return names


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _internal(name: str) -> str | None:
    """The project module an import name refers to (a ``from pkg import module`` counts as the module)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _closure(roots: list[str]) -> tuple[set[str], set[str]]:
    """(project modules reachable from ``roots``, external top-level packages they import)."""
    seen, external, todo = set(), set(), list(roots)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        for name in GRAPH[m]:
            target = _internal(name)
            if target is not None:
                todo.append(target)
                # a package import runs its __init__ too
                parent = target.rpartition(".")[0]
                while parent:
                    if parent in MODULES:
                        todo.append(parent)
                    parent = parent.rpartition(".")[0]
            elif not name.startswith("robot_rl"):
                external.add(name.split(".")[0])
    return seen, external


def _under(prefix: str) -> list[str]:
    return [m for m in MODULES if m == prefix or m.startswith(prefix + ".")]


def test_learning_core_imports_none_of_sim_drivers_rclpy_mujoco():
    reached, external = _closure(_under("robot_rl.learning"))
    bad = sorted(m for m in reached if m.startswith(("robot_rl.sim", "robot_rl.drivers", "robot_rl.runtime",
                                                     "robot_rl.tools")))
    assert not bad, f"the learning core reaches {bad}"
    assert not external & {"rclpy", "mujoco", "pybullet", "pyrealsense2", "pylibfranka"}, external


def test_actor_process_imports_reach_no_mujoco_or_twin():
    reached, external = _closure(["robot_rl.runtime.actor_node"])
    assert not [m for m in reached if m.startswith("robot_rl.sim")], sorted(reached)
    assert "mujoco" not in external


def test_controllers_and_contract_know_nothing_of_ros_torch_or_upper_layers():
    for layer, allowed_external in (("robot_rl.contract", {"numpy"}),
                                    ("robot_rl.controllers", {"numpy", "mujoco"})):
        for m in _under(layer):
            if m in RCLPY_HELPERS:
                continue
            for name in GRAPH[m]:
                target = _internal(name)
                if target is not None:
                    ok = target.startswith("robot_rl.contract") or (layer == "robot_rl.controllers"
                                                                    and target.startswith(layer))
                    assert ok, f"{m} imports {target}: {layer} may import only the layers below it"
                elif name.split(".")[0] not in sys.stdlib_module_names:
                    assert name.split(".")[0] in allowed_external, f"{m} imports {name}"


def test_imports_point_one_way_between_layers():
    # sim and drivers sit below robot_rl's learning / runtime / tools; calibration may use drivers and sim
    below = {"robot_rl.sim": ("robot_rl.contract", "robot_rl.controllers", "robot_rl.sim"),
             "robot_rl.drivers": ("robot_rl.contract", "robot_rl.controllers", "robot_rl.drivers")}
    for layer, allowed in below.items():
        for m in _under(layer):
            for name in GRAPH[m]:
                target = _internal(name)
                if target is not None and target != "robot_rl":
                    assert target.startswith(allowed), f"{m} imports {target} (an upper layer)"


def test_only_node_files_import_rclpy():
    offenders = [m for m, names in GRAPH.items() if any(n == "rclpy" or n.startswith("rclpy.") for n in names)
                 and not m.endswith("_node") and m not in RCLPY_HELPERS | RCLPY_PROBES]
    assert not offenders, f"rclpy imported outside *_node.py files: {offenders}"


def test_node_code_never_calls_rclpy_deprecated_logger_warn():
    """rclpy's ``warn`` is a deprecation wrapper: every call site's caller is the wrapper, so two ``warn`` calls with
    different ``throttle_duration_sec`` raise "Requested logging filters cannot be changed between calls" (it
    crashed the actor when the twin was killed, found by ``bench faults``). ``warning`` has no wrapper."""
    offenders = [str(p.relative_to(ROOT)) for p in MODULES.values() if re.search(r"\.get_logger\(\)\.warn\(|logger\.warn\(",
                                                                               p.read_text())]
    assert not offenders, f"use get_logger().warning(...): {offenders}"


def test_no_source_file_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in MODULES.values() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


TOPIC_LITERAL = re.compile(r"""["'](/?(arm|rl|teleop|task|camera|quad|cf)/[A-Za-z0-9_/<>{}]+)["']""")


def test_no_string_literal_topic_name_outside_the_contract():
    found = []
    for m, p in MODULES.items():
        if m.startswith("robot_rl.contract"):
            continue
        for i, line in enumerate(p.read_text().splitlines(), 1):
            s = line.strip()
            if s.startswith("#"):
                continue
            for hit in TOPIC_LITERAL.finditer(line):
                found.append(f"{p.relative_to(ROOT)}:{i}: {hit.group(1)}")
    assert not found, "topic names belong in contract/topics.py:\n" + "\n".join(found)


def test_installed_top_level_is_only_robot_rl():
    """setup.py's packages all live under robot_rl (no generic 'sim', 'drivers', ... in site-packages)."""
    code = textwrap.dedent("""
        import runpy, sys, setuptools
        seen = {}
        setuptools.setup = lambda **kw: seen.update(kw)
        sys.argv = ["setup.py"]
        runpy.run_path("setup.py")
        print("\\n".join(seen["packages"]))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    pkgs = out.split()
    assert pkgs and all(p == "robot_rl" or p.startswith("robot_rl.") for p in pkgs), pkgs
    for layer in ("robot_rl.contract", "robot_rl.controllers", "robot_rl.sim", "robot_rl.drivers"):
        assert layer in pkgs


@pytest.mark.parametrize("blocked", [("mujoco", "robot_rl.sim")])
def test_learning_core_and_actor_core_import_with_mujoco_unimportable(blocked):
    code = textwrap.dedent(f"""
        import importlib.abc, sys
        BLOCKED = {blocked!r}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                    raise ImportError(f"{{name}} is unimportable in this test")
        sys.meta_path.insert(0, Block())
        import robot_rl.learning.sac, robot_rl.learning.replay, robot_rl.learning.checkpoint
        import robot_rl.runtime.actor_core, robot_rl.runtime.wire, robot_rl.runtime.delivery
        import robot_rl.envs.ros_env
        print("ok")
    """)
    env = {**os.environ, "PYTHONPATH": ""}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_import_walker_sees_the_twin_behind_the_twin_node():
    """The walker itself works: the twin node does reach MuJoCo and the twin (so the checks above can fail)."""
    reached, external = _closure(["robot_rl.sim.twin_node"])
    assert "robot_rl.sim.arm_env" in reached and "mujoco" in external and "rclpy" in external
