"""launch/real_arm.yaml: ROS 2 YAML launch structure, every exec a module this repository ships, every
parameter a node declares (its typed config dataclasses, see ``declare_config``), the params file's node names
match (``/**/<name>`` keys), and the actor is configured as in sim_train."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch" / "real_arm.yaml"
PARAMS = ROOT / "launch" / "params" / "real_arm.yaml"
# exec -> module file (the console-script names to register in setup.py)
EXECUTABLES = {"franka_node": "drivers/franka_node.py", "camera_node": "drivers/camera_node.py",
               "teleop_node": "drivers/teleop_node.py", "actor_node": "robot_rl/runtime/actor_node.py"}


def nodes():
    doc = yaml.safe_load(LAUNCH.read_text())
    assert set(doc) == {"launch"} and isinstance(doc["launch"], list)
    out, args = [], set()
    for entry in doc["launch"]:
        assert isinstance(entry, dict) and len(entry) == 1
        (tag, body), = entry.items()
        assert tag in ("arg", "node"), tag
        if tag == "arg":
            assert set(body) <= {"name", "default", "description"} and "name" in body
            args.add(body["name"])
        else:
            assert set(body) <= {"pkg", "exec", "name", "namespace", "param", "remap", "args", "output"}
            assert body["pkg"] == "robot_rl"
            out.append(body)
    return out, args


def declared_parameters(module_file: str) -> set[str]:
    """The parameters a node module declares: ``declare_parameter("name", ...)`` literals and every field of the
    config dataclasses it passes to ``declare_config(self, Cls)`` (dotted names), plus its ``topics.*`` names."""
    tree = ast.parse((ROOT / module_file).read_text())
    module = importlib.import_module("robot_rl." + module_file[:-3].replace("/", ".").removeprefix("robot_rl."))
    from robot_rl.contract.params import flat_fields

    names = set()
    for n in ast.walk(tree):
        if not isinstance(n, ast.Call):
            continue
        f = n.func
        fname = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        if fname in ("declare_parameter", "p") and n.args and isinstance(n.args[0], ast.Constant) \
                and isinstance(n.args[0].value, str):
            names.add(n.args[0].value)
        # declare_config(self, Cls); the quadrotor nodes hand their config class to QuadContractNode(name, Cls, ...)
        if fname in ("declare_config", "QuadContractNode") and len(n.args) >= 2 and isinstance(n.args[1], ast.Name):
            names |= {ff.name for ff in flat_fields(getattr(module, n.args[1].id))}
    return names


def _node_name(key: str) -> str:
    assert key.startswith("/**/"), f"params file key {key!r}: use /**/<node> so any launch namespace matches"
    return key[len("/**/"):]


def _flat(d: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        out |= _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
    return out


def test_real_arm_launch_structure_and_executables_exist():
    ns, args = nodes()
    assert [n["exec"] for n in ns] == ["franka_node", "camera_node", "camera_node", "teleop_node", "actor_node"]
    names = [n["name"] for n in ns]
    assert len(set(names)) == len(names)
    for n in ns:
        assert (ROOT / EXECUTABLES[n["exec"]]).is_file(), n["exec"]
        for p in n.get("param", []):
            assert set(p) in ({"name", "value"}, {"from"}), p
            for var in re.findall(r"\$\(var (\w+)\)", str(p.get("value", "")) + str(p.get("from", ""))):
                assert var in args, f"undeclared launch arg {var}"
            if "from" in p:
                rel = p["from"].replace("$(find-pkg-share robot_rl)/", "")
                assert (ROOT / rel).is_file(), rel


def test_driver_parameters_in_the_launch_file_are_declared_by_the_nodes():
    ns, _ = nodes()
    params = yaml.safe_load(PARAMS.read_text())
    by_name = {n["name"]: n for n in ns}
    for key, body in params.items():
        node_name = _node_name(key)
        assert node_name in by_name, f"params file names unknown node {node_name}"
        declared = declared_parameters(EXECUTABLES[by_name[node_name]["exec"]])
        given = _flat(body["ros__parameters"])
        assert given <= declared, given - declared
    for n in ns:
        if n["exec"] in ("franka_node", "camera_node"):
            declared = declared_parameters(EXECUTABLES[n["exec"]])
            for p in n.get("param", []):
                if "name" in p:
                    assert p["name"] in declared, (n["name"], p["name"])


def test_actor_runs_with_the_sim_training_configuration():
    ns, _ = nodes()
    actor = next(n for n in ns if n["exec"] == "actor_node")
    assert {"from": "$(find-pkg-share robot_rl)/launch/params/sim_train.yaml"} in actor["param"]
