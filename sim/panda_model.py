"""MJCF for a 7-DoF Franka Panda-class arm with a parallel gripper, generated from published parameters.

Kinematics: the modified (Craig) Denavit-Hartenberg table in Franka's robot documentation.
Joint position/velocity/torque limits: Franka's published Panda limits.
Link masses and centres of mass: the identified values of Gaz et al., "Dynamic Identification of the Franka
Emika Panda Robot With Retrieval of Feasible Parameters Using Penalty-Based Optimization" (RA-L 2019), as used
by public Panda models; inertia tensors are reduced to their diagonals here.

Geometry is deliberately simple (capsules per link, boxes for the hand and fingers). Arm links do not collide
with each other; they do collide with the table and task objects.

The generated XML is a plain string: tasks append their objects to the ``worldbody`` through ``build_scene``.
An external, higher-fidelity MJCF can be used instead (see ``sim.arm_twin.load_external_model``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_rl.contract.rotations import rotvec_to_quat

# Modified DH (a_{i-1} [m], d_i [m], alpha_{i-1} [rad]) for joints 1..7, then the flange (d = 0.107 m).
PANDA_DH: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.333, 0.0),
    (0.0, 0.0, -math.pi / 2),
    (0.0, 0.316, math.pi / 2),
    (0.0825, 0.0, math.pi / 2),
    (-0.0825, 0.384, -math.pi / 2),
    (0.0, 0.0, math.pi / 2),
    (0.088, 0.0, math.pi / 2),
)
PANDA_FLANGE_D_M = 0.107
PANDA_TCP_OFFSET_M = 0.1034  # flange -> fingertip centre, along the hand's z axis

PANDA_Q_MIN_RAD = np.array([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973])
PANDA_Q_MAX_RAD = np.array([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973])
PANDA_DQ_MAX_RAD_PER_S = np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])
PANDA_TAU_MAX_NM = np.array([87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0])
PANDA_HOME_Q_RAD = np.array([0.0, -0.785398, 0.0, -2.356194, 0.0, 1.570796, 0.785398])
PANDA_GRIPPER_MAX_WIDTH_M = 0.08
PANDA_GRIPPER_MAX_FORCE_N = 70.0

# (mass [kg], centre of mass [m] in link frame, principal inertia diagonal [kg m^2]) for links 0..7.
PANDA_INERTIAL: tuple[tuple[float, tuple[float, float, float], tuple[float, float, float]], ...] = (
    (0.629769, (-0.041018, -0.00014, 0.049974), (0.00315, 0.00388, 0.004285)),
    (4.970684, (0.003875, 0.002081, -0.04762), (0.70337, 0.70661, 0.009117)),
    (0.646926, (-0.003141, -0.02872, 0.003495), (0.007962, 0.02811, 0.025995)),
    (3.228604, (0.027518, 0.039252, -0.066502), (0.037242, 0.036155, 0.01083)),
    (3.587895, (-0.05317, 0.104419, 0.027454), (0.025853, 0.019552, 0.028323)),
    (1.225946, (-0.011953, 0.041065, -0.038437), (0.035549, 0.029474, 0.008627)),
    (1.666555, (0.060149, -0.014117, -0.010517), (0.001964, 0.004354, 0.005433)),
    (0.735522, (0.010517, -0.004252, 0.061597), (0.012516, 0.010027, 0.004815)),
)
PANDA_HAND_MASS_KG = 0.73
PANDA_FINGER_MASS_KG = 0.015

# Visual/collision capsule per link, (from, to) in the link frame, radius [m]; chosen to cover each link body.
_LINK_CAPSULES: tuple[tuple[tuple[float, ...], float], ...] = (
    ((0, 0, 0.0, 0, 0, 0.20), 0.07),
    ((0, 0, -0.19, 0, 0, 0.0), 0.065),
    ((0, 0, -0.06, 0, 0, 0.06), 0.065),
    ((0, 0, 0, 0, 0, -0.2), 0.06),
    ((0, 0, -0.06, 0, 0, 0.06), 0.06),
    ((0, 0, -0.24, 0, 0, -0.02), 0.055),
    ((0, 0, -0.03, 0, 0, 0.03), 0.055),
    ((0, 0, -0.02, 0, 0, 0.06), 0.045),
)


def _fmt(v) -> str:
    return " ".join(f"{float(x):.6g}" for x in v)


@dataclass(frozen=True)
class CameraSpec:
    """A calibrated twin camera: pinhole intrinsics [px] of a width x height image (rendered with MuJoCo's
    ``resolution`` / ``focalpixel`` / ``principalpixel``) and its mount, the OpenCV optical frame (x right, y down,
    z forward) in the parent frame: the TCP (``ee_pose``'s frame) for ``wrist``, the base (world) otherwise."""

    name: str
    width_px: int
    height_px: int
    fx_px: float
    fy_px: float
    cx_px: float
    cy_px: float
    position_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quaternion_wxyz: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)


PIXEL_PITCH_M = 1e-5  # the nominal sensor pixel MuJoCo needs for a sensor size; any positive value renders the same


def camera_xml(c: CameraSpec, offset_m=(0.0, 0.0, 0.0)) -> str:
    """The MJCF <camera> of a spec; ``offset_m``: the mount frame's origin in the body the camera sits in.
    MuJoCo's camera looks along -z with y up: its frame is the optical frame turned 180 deg about x. Its principal
    point is given as the offset of the image centre from it, (W-1)/2 - cx, (H-1)/2 - cy (checked by rendering a
    known board in tests/test_calib_intrinsics.py)."""
    w, x, y, z = c.quaternion_wxyz
    q_mj = (-x, w, z, -y)  # q * (0, 1, 0, 0)
    pos = np.asarray(c.position_m, float) + np.asarray(offset_m, float)
    return (f'<camera name="{c.name}" pos="{_fmt(pos)}" quat="{_fmt(q_mj)}" resolution="{c.width_px} {c.height_px}" '
            f'sensorsize="{c.width_px * PIXEL_PITCH_M:.6g} {c.height_px * PIXEL_PITCH_M:.6g}" '
            f'focalpixel="{c.fx_px:.9g} {c.fy_px:.9g}" '
            f'principalpixel="{(c.width_px - 1) / 2 - c.cx_px:.9g} {(c.height_px - 1) / 2 - c.cy_px:.9g}"/>')


def _camera(cameras: dict, name: str, default: str, offset_m=(0.0, 0.0, 0.0)) -> str:
    return camera_xml(cameras[name], offset_m) if name in cameras else default


@dataclass(frozen=True)
class ArmModelConfig:
    """Parameters of the generated arm model (not of the robot: those are the published constants above)."""

    physics_dt_s: float = 0.00025  # 4 kHz physics: stiff finger and peg contacts stay stable
    joint_armature_kg_m2: float = 0.1  # reflected rotor inertia, as public Panda models use
    joint_damping_nm_s_per_rad: float = 0.5
    finger_kp_n_per_m: float = 2000.0
    finger_damping_n_s_per_m: float = 50.0
    finger_friction: float = 1.5
    link_mass_scale: float = 1.0  # every link's (and the hand's) mass and inertia, scaled (system identification)
    payload_kg: float = 0.0  # a point mass at the TCP (a held tool the controller does not compensate)
    # dry (Coulomb) friction of arm joints 1..7 [Nm], MuJoCo's joint frictionloss (system identification)
    joint_frictionloss_nm: tuple[float, ...] = (0.0,) * 7


def _link_body(i: int, inner: str, mass_scale: float = 1.0, frictionloss_nm: float = 0.0) -> str:
    a, d, alpha = PANDA_DH[i - 1]
    # Modified DH: frame i = Rx(alpha_{i-1}) Tx(a_{i-1}) Rz(q_i) Tz(d_i). In the parent frame, the child origin is
    # at (a, -sin(alpha) d, cos(alpha) d) and its orientation is Rx(alpha); the joint turns about the child's z.
    pos = (a, -math.sin(alpha) * d, math.cos(alpha) * d)
    mass, com, diag = PANDA_INERTIAL[i]
    (frm, r) = _LINK_CAPSULES[i]
    friction = f' frictionloss="{frictionloss_nm:.9g}"' if frictionloss_nm > 0 else ""
    return (
        f'<body name="link{i}" pos="{_fmt(pos)}" quat="{_fmt(rotvec_to_quat((alpha, 0.0, 0.0)))}">'
        f'<inertial pos="{_fmt(com)}" mass="{mass * mass_scale:.9g}" diaginertia="{_fmt(np.multiply(diag, mass_scale))}"/>'
        f'<joint name="joint{i}" range="{PANDA_Q_MIN_RAD[i-1]} {PANDA_Q_MAX_RAD[i-1]}" class="arm"{friction}/>'
        f'<geom fromto="{_fmt(frm)}" size="{r}" class="link"/>'
        f"{inner}</body>"
    )


def arm_xml(cfg: ArmModelConfig = ArmModelConfig(), hand_xml: str = "",
            cameras: tuple[CameraSpec, ...] = ()) -> tuple[str, str, str]:
    """Return (default-class XML, arm body XML, actuator XML) for the Panda-class arm.

    ``hand_xml`` is appended inside the hand body (a tool rigidly held by the gripper, e.g. a peg); a ``wrist``
    entry of ``cameras`` replaces the default wrist camera (mounted relative to the TCP).
    """
    wrist = _camera({c.name: c for c in cameras}, "wrist",
                    '<camera name="wrist" pos="0.08 0 0.0" xyaxes="0 1 0 0.832 0 0.555" fovy="75"/>',
                    (0.0, 0.0, PANDA_TCP_OFFSET_M))
    defaults = f"""
    <default class="arm">
      <joint type="hinge" axis="0 0 1" armature="{cfg.joint_armature_kg_m2}" damping="{cfg.joint_damping_nm_s_per_rad}" limited="true"/>
    </default>
    <default class="link"><geom type="capsule" contype="2" conaffinity="1" rgba="0.92 0.92 0.95 1" group="1"/></default>
    <default class="finger">
      <geom type="box" contype="2" conaffinity="1" friction="{cfg.finger_friction} 0.01 0.001" condim="4" solref="0.004 1" rgba="0.2 0.2 0.2 1" group="1"/>
    </default>"""
    payload = (f'<body name="payload" pos="0 0 {PANDA_TCP_OFFSET_M}"><inertial pos="0 0 0" mass="{cfg.payload_kg:.9g}" '
               f'diaginertia="1e-6 1e-6 1e-6"/></body>' if cfg.payload_kg > 0 else "")
    hand = f"""
      <body name="hand" pos="0 0 {PANDA_FLANGE_D_M}" quat="{_fmt(rotvec_to_quat((0.0, 0.0, -math.pi / 4)))}">
        <inertial pos="-0.01 0 0.03" mass="{PANDA_HAND_MASS_KG * cfg.link_mass_scale:.9g}" diaginertia="{_fmt(np.multiply((0.001, 0.0025, 0.0017), cfg.link_mass_scale))}"/>
        {payload}
        <geom type="box" size="0.025 0.1 0.025" pos="0 0 0.03" class="link" rgba="0.92 0.92 0.95 1"/>
        <site name="tcp" pos="0 0 {PANDA_TCP_OFFSET_M}" size="0.005" rgba="1 0 0 0.5" group="3"/>
        {wrist}
        <body name="left_finger" pos="0 0 0.0584">
          <inertial pos="0 0.01 0.02" mass="{PANDA_FINGER_MASS_KG}" diaginertia="2.4e-6 2.4e-6 1e-6"/>
          <joint name="finger_left" type="slide" axis="0 1 0" range="0 0.04" damping="{cfg.finger_damping_n_s_per_m}" armature="0.01"/>
          <geom size="0.01 0.006 0.026" pos="0 0.006 0.026" class="finger"/>
        </body>
        <body name="right_finger" pos="0 0 0.0584">
          <inertial pos="0 -0.01 0.02" mass="{PANDA_FINGER_MASS_KG}" diaginertia="2.4e-6 2.4e-6 1e-6"/>
          <joint name="finger_right" type="slide" axis="0 -1 0" range="0 0.04" damping="{cfg.finger_damping_n_s_per_m}" armature="0.01"/>
          <geom size="0.01 0.006 0.026" pos="0 -0.006 0.026" class="finger"/>
        </body>
        {hand_xml}
      </body>"""
    body = hand
    for i in range(7, 0, -1):
        body = _link_body(i, body, cfg.link_mass_scale, cfg.joint_frictionloss_nm[i - 1])
    m0, com0, diag0 = PANDA_INERTIAL[0]
    frm0, r0 = _LINK_CAPSULES[0]
    arm = (
        f'<body name="link0" pos="0 0 0">'
        f'<inertial pos="{_fmt(com0)}" mass="{m0}" diaginertia="{_fmt(diag0)}"/>'
        f'<geom fromto="{_fmt(frm0)}" size="{r0}" class="link" contype="0" conaffinity="0"/>'
        f"{body}</body>"
    )
    acts = "".join(
        f'<motor name="motor{i}" joint="joint{i}" ctrlrange="{-t} {t}" ctrllimited="true"/>'
        for i, t in enumerate(PANDA_TAU_MAX_NM, start=1)
    )
    f = PANDA_GRIPPER_MAX_FORCE_N
    acts += (
        f'<position name="finger_left_act" joint="finger_left" kp="{cfg.finger_kp_n_per_m}" ctrlrange="0 0.04" forcerange="{-f} {f}"/>'
        f'<position name="finger_right_act" joint="finger_right" kp="{cfg.finger_kp_n_per_m}" ctrlrange="0 0.04" forcerange="{-f} {f}"/>'
    )
    return defaults, arm, acts


def build_scene(
    objects_xml: str = "", cfg: ArmModelConfig = ArmModelConfig(), hand_xml: str = "", with_arm: bool = True,
    cameras: tuple[CameraSpec, ...] = (),
) -> str:
    """A complete MJCF: table plane, lights, a front camera, the arm (unless ``with_arm`` is False: an external
    arm is attached later), and the task's objects. ``cameras``: calibrated specs replacing the default ``front``
    (base frame) and ``wrist`` (TCP frame) cameras."""
    defaults, arm, acts = arm_xml(cfg, hand_xml, cameras) if with_arm else ("", "", "")
    front = _camera({c.name: c for c in cameras}, "front",
                    '<camera name="front" pos="0.95 0 0.4" xyaxes="0 1 0 -0.614 0 0.789" fovy="55"/>')
    off_w = max([640] + [c.width_px for c in cameras])
    off_h = max([480] + [c.height_px for c in cameras])
    return f"""<mujoco model="robot_rl_panda_twin">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{cfg.physics_dt_s}" integrator="implicitfast" cone="elliptic" impratio="5"/>
  <visual><global offwidth="{off_w}" offheight="{off_h}"/><quality shadowsize="0"/></visual>
  <default>{defaults}
  </default>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.35 0.3 0.25" rgb2="0.4 0.35 0.3" width="256" height="256"/>
    <material name="table" texture="grid" texrepeat="8 8"/>
  </asset>
  <worldbody>
    <light pos="0.5 0 1.5" dir="0 0 -1" directional="true"/>
    <light pos="1.2 -0.8 1.0" dir="-1 0.6 -0.8"/>
    <geom name="table" type="plane" size="1.5 1.5 0.05" material="table" contype="1" conaffinity="7"/>
    {front}
    {arm}
    {objects_xml}
  </worldbody>
  <actuator>{acts}</actuator>
</mujoco>"""
