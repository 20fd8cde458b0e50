import sys
import time

import pytest

from robot_rl.tools.launch_runner import (REPO_ROOT, LaunchError, LaunchRunner, NodeSpec, check_modules, launch_files,
                                    parse_launch)

FILES = sorted((REPO_ROOT / "launch").glob("*.yaml"))


def test_there_are_launch_files():
    names = {f.name for f in FILES}
    assert {"sim_train.yaml", "teleop.yaml"} <= names
    assert set(launch_files()) == set(FILES)


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_every_launch_file_parses_and_every_node_resolves(path):
    nodes, args = parse_launch(path)
    assert nodes, f"{path.name} starts no node"
    check_modules(nodes)
    for n in nodes:
        cmd = n.command()
        assert cmd[1:3] == ["-m", n.module] and "--ros-args" in cmd
        for f in n.params_files:
            assert f.is_file()


def test_args_params_remaps_namespace_become_ros_args(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("twin:\n  ros__parameters:\n    camera_hz: 5.0\n")
    f = tmp_path / "x.yaml"
    f.write_text(f"""
launch:
- arg: {{name: task, default: reach}}
- arg: {{name: hz, default: "7.5"}}
- node:
    pkg: robot_rl
    exec: twin_node
    name: twin2
    namespace: left
    args: "--foo bar"
    param:
    - {{from: {params}}}
    - {{name: task, value: $(var task)}}
    - {{name: state_hz, value: $(var hz)}}
    - {{name: cameras, value: [front]}}
    remap:
    - {{from: /arm/target_pose, to: /left/target}}
""")
    (node,), args = parse_launch(f, {"task": "pick_cube"})
    assert args == {"task": "pick_cube", "hz": "7.5"}
    cmd = node.command()
    assert cmd[:5] == [sys.executable, "-m", "robot_rl.sim.twin_node", "--foo", "bar"]
    tail = " ".join(cmd[5:])
    assert "-r __node:=twin2" in tail and "-r __ns:=/left" in tail and f"--params-file {params}" in tail
    assert "-p task:=pick_cube" in tail and "-p state_hz:=7.5" in tail and "-p cameras:=[front]" in tail
    assert "-r /arm/target_pose:=/left/target" in tail


@pytest.mark.parametrize("body, message", [
    ("- include: {file: other.yaml}", "unsupported launch tag 'include'"),
    ("- group: {}", "unsupported launch tag 'group'"),
    ("- node: {pkg: robot_rl, exec: twin_node, respawn: true}", "unsupported attribute(s) respawn"),
    ("- node: {pkg: robot_rl, exec: twin_node, name: $(eval 1+1)}", "unsupported substitution $(eval 1+1)"),
    ("- node: {pkg: other_pkg, exec: talker}", "runs robot_rl nodes only"),
    ("- node: {pkg: robot_rl, exec: no_such_node}", "no such executable"),
    ("- node: {pkg: robot_rl, exec: twin_node, name: $(var nope)}", "not a declared arg"),
    ("- arg: {name: a}", "has no default"),
])
def test_unsupported_things_are_refused_with_a_clear_error(tmp_path, body, message):
    f = tmp_path / "bad.yaml"
    f.write_text("launch:\n" + body + "\n")
    with pytest.raises(LaunchError) as e:
        parse_launch(f)
    assert message in str(e.value)


def test_unknown_override_is_refused():
    with pytest.raises(LaunchError, match="unknown launch argument"):
        parse_launch(REPO_ROOT / "launch" / "sim_train.yaml", {"nope": "1"})


def test_runner_runs_nodes_as_processes_and_stops_them_with_sigint(tmp_path):
    script = tmp_path / "sleeper.py"
    script.write_text("import signal, sys, time\n"
                      "signal.signal(signal.SIGINT, lambda *a: (print('got SIGINT', flush=True), sys.exit(0)))\n"
                      "print('up', flush=True)\n"
                      "time.sleep(60)\n")
    lines = []

    class Out:
        def write(self, s):
            lines.append(s)

        def flush(self):
            pass

    nodes = [NodeSpec("robot_rl", "a", "x", name=f"n{i}") for i in range(2)]
    for n in nodes:
        n.command = lambda: [sys.executable, str(script)]  # noqa: B023
    r = LaunchRunner(nodes, out=Out(), shutdown_timeout_s=5)
    try:
        r.start()
        deadline = time.monotonic() + 30
        while sum("up" in l for l in lines) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(p.poll() is None for p in r.procs.values())
    finally:
        codes = r.shutdown()
    assert codes == {"n0": 0, "n1": 0}
    assert sum("got SIGINT" in l for l in lines) == 2 and any(l.startswith("[n0] ") for l in lines)


def test_launch_command_check_prints_the_plan(capsys):
    from robot_rl.tools.cli import main

    assert main(["launch", "--check", "sim_train.yaml", "task:=reach"]) == 0
    out = capsys.readouterr().out
    assert "robot_rl.sim.twin_node" in out and "robot_rl.runtime.learner_node" in out


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_params_file_keys_reach_their_node_in_any_namespace(path):
    """rcl itself (real rclpy) applies each params file to each node of the launch file, under the node's launch
    namespace and under another one: every parameter its entry names arrives (keys are /**/<name> wildcards)."""
    rclpy = pytest.importorskip("rclpy")
    import yaml
    from rclpy.node import Node

    nodes, _ = parse_launch(path)
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    try:
        for n in nodes:
            for f in n.params_files:
                doc = yaml.safe_load(f.read_text())
                expected = {}
                for key, body in doc.items():
                    if key.split("/")[-1] == n.name:
                        expected.update(_flatten(body["ros__parameters"]))
                assert expected, f"{f.name} has no entry for node {n.label}"
                for ns in {n.namespace or "", "/elsewhere"}:
                    node = Node(n.name, namespace=ns, context=ctx, cli_args=["--ros-args", "--params-file", str(f)],
                                automatically_declare_parameters_from_overrides=True)
                    got = {k: node.get_parameter(k).value for k in expected if node.has_parameter(k)}
                    node.destroy_node()
                    assert set(got) == set(expected), (n.label, ns, set(expected) - set(got))
    finally:
        rclpy.shutdown(context=ctx)


def test_multi_arm_launch_two_arms_two_actors_one_learner():
    nodes, _ = parse_launch(REPO_ROOT / "launch" / "multi_arm.yaml")
    labels = [n.label for n in nodes]
    assert len(set(labels)) == len(labels)
    assert {"learner", "left/twin", "left/actor", "right/twin", "right/actor"} <= set(labels)
    actors = [n for n in nodes if n.executable == "actor_node"]
    ids = {dict(n.params)["actor_id"] for n in actors}
    assert ids == {"left", "right"}
    learner = next(n for n in nodes if n.executable == "learner_node")
    assert not learner.namespace  # at the root: its rl/ names resolve to /rl/...


def _contract_topic_parameters(name: str) -> bool:
    """``topics.<key>`` (or ``topics.camera.<cam>.<key>``) for a key of the topic contract."""
    from robot_rl.contract import topics as T

    keys = {k for g in (T.ARM, T.ARM_DRIVER, T.TWIN, T.TELEOP, T.RL) for k in g} | set(T.camera("x"))
    parts = name.split(".")
    return parts[0] == "topics" and (parts[1:] and parts[-1] in keys) and len(parts) in (2, 4)


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_every_parameter_a_launch_file_gives_is_declared_by_its_node(path):
    """A parameter no node declares would be refused at start (run_node: unknown parameter, exit 2): a renamed
    config field must be renamed in the launch files too."""
    import yaml

    from tests.test_real_arm_launch import _flat, declared_parameters

    nodes, _ = parse_launch(path)
    for n in nodes:
        module_file = n.module.removeprefix("robot_rl.").replace(".", "/") + ".py"
        if not (REPO_ROOT / module_file).is_file():
            module_file = "robot_rl/" + module_file
        declared = declared_parameters(module_file)
        given = {k for k, _ in n.params}
        for f in n.params_files:
            for key, body in yaml.safe_load(f.read_text()).items():
                if key.split("/")[-1] == n.name:
                    given |= _flat(body["ros__parameters"])
        unknown = {g for g in given - declared if not _contract_topic_parameters(g)}
        assert not unknown, (n.label, sorted(unknown))
