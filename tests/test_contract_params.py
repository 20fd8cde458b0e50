"""The contract module: typed parameters (contract/params.py), topic names and QoS (contract/topics.py), and the
rclpy helpers nodes build on (contract/ros_node.py), the latter with real rclpy."""
from __future__ import annotations

import dataclasses
import importlib
import math
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from robot_rl.contract import topics as T
from robot_rl.contract.params import ParameterError, build, flat_fields, from_dict, param, to_flat

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Inner:
    discount: float = param(0.99, gt=0, le=1, doc="per step")
    num_critics: int = param(2, ge=1)


@dataclass(frozen=True)
class Cfg:
    rate_hz: float = param(100.0, gt=0, le=1000, doc="publish rate")
    timeout_s: float = param(0.2, ge=0, lt=5)
    cameras: tuple[str, ...] = param(("front", "wrist"))
    gains: tuple[float, ...] = param((1.0, 2.0))
    mode: str = param("policy", choices=("policy", "teleop"))
    enabled: bool = True
    limit_n: float | None = None
    inner: Inner = field(default_factory=Inner)


def _error(values) -> str:
    with pytest.raises(ParameterError) as e:
        build(Cfg, values, where="node: ")
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# ---- params --------------------------------------------------------------------------------------------------
def test_flat_fields_lists_nested_configs_with_dotted_names_and_defaults():
    ff = {f.name: f for f in flat_fields(Cfg)}
    assert list(ff) == ["rate_hz", "timeout_s", "cameras", "gains", "mode", "enabled", "limit_n", "inner.discount",
                        "inner.num_critics"]
    assert ff["inner.discount"].kind == "float" and ff["inner.discount"].default == 0.99
    assert ff["cameras"].kind == "str_tuple" and ff["limit_n"].optional
    assert ff["rate_hz"].doc == "publish rate"


def test_range_bounds_are_enforced_exactly_at_their_edges():
    assert build(Cfg, {"rate_hz": 1000}).rate_hz == 1000.0  # le: inclusive
    assert build(Cfg, {"timeout_s": 0}).timeout_s == 0.0  # ge: inclusive
    for bad in ({"rate_hz": 0}, {"rate_hz": 1000.5}, {"timeout_s": -1e-9}, {"timeout_s": 5}, {"inner.discount": 0},
                {"inner.num_critics": 0}):
        (name, value), = bad.items()
        msg = _error(bad)
        assert msg.startswith(f"node: parameter {name}={value!r} is invalid: expected ")


def test_out_of_range_message_is_one_line_naming_parameter_value_and_range():
    assert _error({"rate_hz": -3}) == \
        "node: parameter rate_hz=-3 is invalid: expected a finite number > 0 and <= 1000"
    assert _error({"timeout_s": 7.5}) == \
        "node: parameter timeout_s=7.5 is invalid: expected a finite number >= 0 and < 5"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan"])
def test_nan_and_inf_are_refused_for_a_float(value):
    msg = _error({"rate_hz": value})
    assert "rate_hz=" in msg and "expected a finite number > 0 and <= 1000" in msg


def test_nan_inside_a_float_list_is_refused():
    assert "gains=" in _error({"gains": [1.0, math.nan]})


def test_an_integer_is_accepted_where_a_float_is_expected():
    c = build(Cfg, {"rate_hz": 50, "inner.discount": 1})
    assert c.rate_hz == 50.0 and isinstance(c.rate_hz, float)
    assert isinstance(c.inner.discount, float)
    assert build(Cfg, {"gains": [1, 2, 3]}).gains == (1.0, 2.0, 3.0)


def test_an_integral_float_is_accepted_for_an_int_but_a_fraction_is_not():
    assert build(Cfg, {"inner.num_critics": 4.0}).inner.num_critics == 4
    assert "inner.num_critics=2.5" in _error({"inner.num_critics": 2.5})


def test_a_bool_is_not_a_number_and_a_number_is_not_a_bool():
    assert "rate_hz=True" in _error({"rate_hz": True})
    assert "enabled=1" in _error({"enabled": 1})
    assert build(Cfg, {"enabled": "false"}).enabled is False  # a CLI / launch string


def test_numbers_given_as_strings_are_parsed_and_garbage_is_named():
    assert build(Cfg, {"rate_hz": "25"}).rate_hz == 25.0
    assert _error({"rate_hz": "fast"}) == \
        "node: parameter rate_hz='fast' is invalid: expected a finite number > 0 and <= 1000"


def test_a_comma_separated_string_or_a_list_gives_a_tuple():
    assert build(Cfg, {"cameras": "front, wrist ,side"}).cameras == ("front", "wrist", "side")
    assert build(Cfg, {"cameras": ""}).cameras == ()  # "" = none (state only)
    assert build(Cfg, {"cameras": ["a"]}).cameras == ("a",)
    assert build(Cfg, {"gains": "0.5,1"}).gains == (0.5, 1.0)
    assert "cameras=[1, 2]" in _error({"cameras": [1, 2]})
    assert "expected a list of finite numbers" in _error({"gains": "1,x"})


def test_choices_are_listed_in_the_message():
    assert _error({"mode": "dance"}) == "node: parameter mode='dance' is invalid: expected one of 'policy', 'teleop'"


def test_optional_parameter_empty_string_means_none():
    assert build(Cfg, {"limit_n": ""}).limit_n is None
    assert build(Cfg, {"limit_n": 3}).limit_n == 3.0
    assert "(or empty)" in _error({"limit_n": "x"})


def test_unknown_parameter_is_refused_naming_it_and_the_known_ones():
    msg = _error({"rate_hz": 1.0, "rate_hzz": 2.0})
    assert msg.startswith("node: unknown parameter 'rate_hzz' (known: ")
    assert "inner.discount" in msg


def test_nested_values_override_only_their_field_and_base_keeps_the_rest():
    base = build(Cfg, {"rate_hz": 7, "inner.num_critics": 10})
    c = build(Cfg, {"inner.discount": 0.5}, base=base)
    assert (c.rate_hz, c.inner.num_critics, c.inner.discount) == (7.0, 10, 0.5)
    assert build(Cfg, {}, base=base) == base


def test_to_flat_and_from_dict_round_trip():
    c = build(Cfg, {"cameras": "a", "inner.discount": 0.9, "limit_n": 1.5})
    assert build(Cfg, to_flat(c)) == c
    assert from_dict(Cfg, dataclasses.asdict(c)) == c
    with pytest.raises(ParameterError):
        from_dict(Cfg, {"inner": {"gamma": 0.9}})


def test_param_refuses_a_mutable_sequence_default():
    with pytest.raises(TypeError):
        param([1, 2])


# ---- topics --------------------------------------------------------------------------------------------------
def _groups():
    return {"ARM": T.ARM, "ARM_DRIVER": T.ARM_DRIVER, "ARM_LOG": T.ARM_LOG, "TWIN": T.TWIN, "TELEOP": T.TELEOP,
            "GAMEPAD": T.GAMEPAD, "RL": T.RL, "QUAD": T.QUAD, "QUAD_ALL": T.QUAD_ALL, "camera(front)": T.camera("front")}


def test_every_contract_name_is_relative_and_a_valid_ros_name():
    pytest.importorskip("rclpy")
    from rclpy.validate_topic_name import validate_topic_name

    for group, eps in _groups().items():
        for key, e in eps.items():
            assert not e.name.startswith(("/", "~")), f"{group}.{key}: {e.name} is not relative"
            assert validate_topic_name(e.name, is_service=e.is_service)
            assert re.fullmatch(r"[a-z][a-z0-9_]*(/[a-z0-9_]+)*", e.name), e.name
            pkg, kind, name = e.type.split("/")
            assert kind == ("srv" if e.is_service else "msg")
            assert hasattr(importlib.import_module(f"{pkg}.{kind}"), name), e.type  # a real interface type


def test_contract_names_are_unique_and_services_have_no_qos():
    eps = [e for g in _groups().values() for e in g.values()]
    assert len({e.name for e in eps}) == len(eps)
    assert len(T.all_endpoints(("front", "wrist"))) == len(eps) + len(T.camera("wrist"))
    for e in eps:
        assert (e.qos is None) == e.is_service, e.name


def test_camera_topics_follow_realsense_ros_naming():
    c = T.camera("wrist")
    assert c["color"].name == "camera/wrist/color/image_raw"
    assert c["depth"].name == "camera/wrist/aligned_depth_to_color/image_raw"


def test_qos_profiles_follow_the_design():
    assert T.ARM["ee_pose"].qos.reliability == "best_effort"  # sensor streams
    assert T.ARM["target_pose"].qos.reliability == "reliable"  # commands
    assert (T.RL["weights"].qos.reliability, T.RL["weights"].qos.durability) == ("reliable", "transient_local")
    assert T.RL["transitions"].qos.depth >= 1000
    # e-stop: a best-effort volatile reader (matches every writer) and a latched one (hears a past e-stop)
    assert {(q.reliability, q.durability) for q in T.SAFETY} == {("best_effort", "volatile"),
                                                                 ("reliable", "transient_local")}
    assert T.ARM["estop"].qos is T.SAFETY


def test_no_absolute_topic_literal_outside_the_contract_module():
    """Every topic name comes from contract/topics.py (as a parameter default): none is written elsewhere."""
    pattern = re.compile(r"""["'](/?(arm|rl|teleop|task|camera)/[A-Za-z0-9_{}/]+)["']""")
    offenders = []
    for folder in ("robot_rl", "sim", "drivers", "controllers", "calibration"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# ---- ros_node (real rclpy) -----------------------------------------------------------------------------------
@pytest.fixture
def rclpy_ctx():
    rclpy = pytest.importorskip("rclpy")
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx, domain_id=_domain())
    yield rclpy, ctx
    rclpy.shutdown(context=ctx)


def _domain() -> int:
    import random

    return random.Random().randint(100, 200)


def _node(rclpy, ctx, name="n", namespace="", **overrides):
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    params = [Parameter(k, value=v) for k, v in overrides.items()]
    return Node(name, namespace=namespace, context=ctx, parameter_overrides=params)


def test_declare_config_accepts_an_int_for_a_float_and_an_empty_list(rclpy_ctx):
    from robot_rl.contract.ros_node import declare_config

    rclpy, ctx = rclpy_ctx
    node = _node(rclpy, ctx, **{"rate_hz": 50, "cameras": ["a", "b"], "inner.discount": 1})
    c = declare_config(node, Cfg)
    assert (c.rate_hz, c.cameras, c.inner.discount) == (50.0, ("a", "b"), 1.0)
    assert node.get_parameter("inner.num_critics").value == 2  # declared, with its default
    assert "[an integer >= 1]" in node.describe_parameter("inner.num_critics").description
    node.destroy_node()
    node = _node(rclpy, ctx, name="m", cameras="")
    assert declare_config(node, Cfg).cameras == ()
    node.destroy_node()


def test_declare_config_refuses_nan_naming_node_parameter_and_range(rclpy_ctx):
    from robot_rl.contract.ros_node import declare_config

    rclpy, ctx = rclpy_ctx
    node = _node(rclpy, ctx, name="twin", rate_hz=math.nan)
    with pytest.raises(ParameterError, match=r"^twin: parameter rate_hz=nan is invalid: expected a finite number"):
        declare_config(node, Cfg)
    node.destroy_node()


def test_topic_names_are_parameters_resolved_under_the_node_namespace(rclpy_ctx):
    from robot_rl.contract.ros_node import topic_names

    rclpy, ctx = rclpy_ctx
    node = _node(rclpy, ctx, namespace="/left", **{"topics.transitions": "/rl/transitions"})
    names = topic_names(node, {**T.ARM, **T.RL})
    assert names["ee_pose"] == "arm/ee_pose"
    assert node.resolve_topic_name(names["ee_pose"]) == "/left/arm/ee_pose"
    assert node.resolve_topic_name(names["transitions"]) == "/rl/transitions"  # absolute: shared by namespaces
    assert node.resolve_topic_name(names["weights"]) == "/left/rl/weights"
    node.destroy_node()


def test_an_invalid_topic_name_parameter_is_one_line(rclpy_ctx):
    from robot_rl.contract.ros_node import topic_names

    rclpy, ctx = rclpy_ctx
    node = _node(rclpy, ctx, name="actor", **{"topics.ee_pose": "arm//ee pose"})
    with pytest.raises(ParameterError, match=r"^actor: parameter topics.ee_pose='arm//ee pose' is invalid"):
        topic_names(node, T.ARM)
    node.destroy_node()


def test_qos_builds_the_rclpy_profile(rclpy_ctx):
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    from robot_rl.contract.ros_node import qos

    q = qos(T.LATCHED)
    assert (q.reliability, q.durability, q.depth) == (ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL,
                                                      T.LATCHED.depth)
    assert qos(T.SENSOR).reliability == ReliabilityPolicy.BEST_EFFORT


def test_subscribe_safety_hears_default_best_effort_and_latched_publishers(rclpy_ctx):
    """A mismatched QoS must never silence an e-stop: default (reliable volatile), best effort, and a latched
    e-stop published before the subscriber existed all arrive."""
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Bool

    from robot_rl.contract.ros_node import subscribe_safety

    rclpy, ctx = rclpy_ctx
    pub_node = _node(rclpy, ctx, name="pubs")
    latched = pub_node.create_publisher(Bool, "/x/latched", QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    latched.publish(Bool(data=True))  # before anyone listens
    default = pub_node.create_publisher(Bool, "/x/default", 10)
    best = pub_node.create_publisher(Bool, "/x/best", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    sub_node = _node(rclpy, ctx, name="subs")
    heard = set()
    for topic in ("/x/latched", "/x/default", "/x/best"):
        subscribe_safety(sub_node, Bool, topic, lambda m, t=topic: heard.add(t), T.SAFETY)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(pub_node)
    ex.add_node(sub_node)
    deadline = time.monotonic() + 15
    while heard != {"/x/latched", "/x/default", "/x/best"} and time.monotonic() < deadline:
        default.publish(Bool(data=True))
        best.publish(Bool(data=True))
        ex.spin_once(timeout_sec=0.1)
    ex.shutdown()
    assert heard == {"/x/latched", "/x/default", "/x/best"}


def test_run_node_bad_parameter_is_one_line_and_exit_code_2():
    pytest.importorskip("rclpy")
    code = """
import sys
from dataclasses import dataclass
from rclpy.node import Node
from robot_rl.contract.params import param
from robot_rl.contract.ros_node import declare_config, run_node

@dataclass(frozen=True)
class P:
    rate_hz: float = param(10.0, gt=0)

def make():
    node = Node("probe")
    declare_config(node, P)
    return node

sys.exit(run_node(make, "probe_node"))
"""
    r = subprocess.run([sys.executable, "-c", code, "--ros-args", "-p", "rate_hz:=-2.0"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == "probe_node: probe: parameter rate_hz=-2.0 is invalid: expected a finite number > 0"


def test_run_node_refuses_a_parameter_the_node_never_declared():
    """``-p rate_hzz:=2`` (a typo) would be ignored silently by ROS: run_node refuses it with one line, exit 2."""
    pytest.importorskip("rclpy")
    code = """
import sys
from rclpy.node import Node
from robot_rl.contract.ros_node import run_node

def make():
    node = Node("probe")
    node.declare_parameter("rate_hz", 10.0)
    return node

sys.exit(run_node(make, "probe_node", spin=lambda node, stop: None))
"""
    r = subprocess.run([sys.executable, "-c", code, "--ros-args", "-p", "rate_hzz:=2.0"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("probe_node: probe: unknown parameter 'rate_hzz' (known: ")
    ok = subprocess.run([sys.executable, "-c", code, "--ros-args", "-p", "rate_hz:=2.0"], capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr


def test_run_node_unparsable_ros_args_exit_2_without_a_traceback():
    """``-p rate_hz:=`` (no value) makes rcl refuse to initialise: one line of ours, exit 2, no traceback."""
    pytest.importorskip("rclpy")
    code = """
import sys
from rclpy.node import Node
from robot_rl.contract.ros_node import run_node
sys.exit(run_node(lambda: Node("probe"), "probe_node", spin=lambda node, stop: None))
"""
    r = subprocess.run([sys.executable, "-c", code, "--ros-args", "-p", "rate_hz:="], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    ours = [l for l in r.stderr.splitlines() if l.startswith("probe_node:")]
    assert ours == ["probe_node: bad command-line arguments: Couldn't parse parameter override rule: "
                    "'-p rate_hz:='. Error: error not set"], r.stderr
