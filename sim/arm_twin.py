"""The arm twin: MuJoCo physics plus the 1 kHz Cartesian impedance loop of ``controllers/``.

The twin only supplies model quantities (pose, Jacobian, bias forces) to the very control law the hardware
driver runs; arm torques are applied as generalised forces on the arm joints, the gripper through its
position actuators (or the external model's gripper actuator).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from robot_rl.contract.rotations import mat_to_rotvec, rotvec_to_mat
from robot_rl.controllers.filtered_loop import FiltersConfig, FilteredImpedanceLoop
from robot_rl.controllers.impedance import CartesianImpedanceConfig, CartesianImpedanceController
from robot_rl.sim.panda_model import (
    PANDA_GRIPPER_MAX_WIDTH_M,
    PANDA_HOME_Q_RAD,
    ArmModelConfig,
    CameraSpec,
    build_scene,
)


EXTERNAL_PREFIX = "ext/"  # prefix of every name from an external arm MJCF in the compiled model


@dataclass(frozen=True)
class ExternalArmSpec:
    """How to drive an external MJCF (e.g. franky-sim's ``fr3.xml``): names of the parts the twin needs.

    The arm joints' own actuators, if any, are switched off; torques are applied as generalised forces.
    """

    mjcf_path: str
    joint_names: tuple[str, ...] = tuple(f"fr3_joint{i}" for i in range(1, 8))
    ee_body: str = "hand"
    tcp_offset_m: tuple[float, float, float] = (0.0, 0.0, 0.1034)
    gripper_actuator: str | None = "hand"
    gripper_ctrl_open: float = 255.0
    gripper_ctrl_closed: float = 0.0
    finger_joint_names: tuple[str, ...] = ("finger_joint1", "finger_joint2")
    # Mesh folder, relative to the MJCF's folder; None keeps the file's own (franky-sim's fr3.xml needs "meshes").
    meshdir: str | None = None


@dataclass(frozen=True)
class TwinConfig:
    model: ArmModelConfig = field(default_factory=ArmModelConfig)
    impedance: CartesianImpedanceConfig = field(default_factory=CartesianImpedanceConfig)
    home_q_rad: tuple[float, ...] = tuple(PANDA_HOME_Q_RAD)
    external: ExternalArmSpec | None = None
    # Rate of the impedance law; the physics runs physics_steps_per_tick = control_dt / physics_dt steps per tick,
    # holding the torque (zero-order hold, as a real drive does between two controller ticks).
    control_hz: float = 500.0
    # Safety and passivity filters after the impedance law (controllers/filtered_loop.py); enabled=False: bare law.
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    # calibrated cameras (robot_rl.calibration.twin_cameras builds them from the calibration files): intrinsics
    # and mount replace the default front / wrist cameras, so twin and real images line up
    cameras: tuple[CameraSpec, ...] = ()
    # identified dynamics (sim/twin_dynamics.py): a target reaches the law this long after set_target (the switch
    # falls between two ticks: that tick sees the pro-rata blend, so the response is continuous in the latency),
    # and the joints receive actuator_gain times the law's torque
    control_latency_s: float = 0.0
    actuator_gain: float = 1.0

    def physics_steps_per_tick(self) -> int:
        k = round(1.0 / (self.control_hz * self.model.physics_dt_s))
        if k < 1 or abs(k * self.control_hz * self.model.physics_dt_s - 1.0) > 1e-6:
            raise ValueError(
                f"control_hz={self.control_hz} must divide the physics rate {1.0 / self.model.physics_dt_s:g} Hz"
            )
        return k


class ArmTwin:
    """MuJoCo model + data of the arm scene, with the impedance loop running at the physics rate."""

    def __init__(self, objects_xml: str = "", cfg: TwinConfig = TwinConfig(), hand_xml: str = ""):
        self.cfg = cfg
        if cfg.external is None:
            self.model = mujoco.MjModel.from_xml_string(build_scene(objects_xml, cfg.model, hand_xml,
                                                                    cameras=cfg.cameras))
            joint_names = tuple(f"joint{i}" for i in range(1, 8))
            self.tcp_site = self.model.site("tcp").id
            finger_joints = ("finger_left", "finger_right")
            self._gripper_acts = [self.model.actuator("finger_left_act").id, self.model.actuator("finger_right_act").id]
            self._gripper_ctrl = (0.04, 0.0)  # (open, closed) actuator targets
        else:
            if cfg.cameras:
                raise ValueError("calibrated cameras are supported on the built-in arm model only")
            self.model = load_external_model(cfg.external, objects_xml, hand_xml, cfg.model)
            ext = cfg.external
            joint_names = tuple(EXTERNAL_PREFIX + n for n in ext.joint_names)
            self.tcp_site = self.model.site(EXTERNAL_PREFIX + "robot_rl_tcp").id
            finger_joints = tuple(EXTERNAL_PREFIX + n for n in ext.finger_joint_names)
            self._gripper_acts = ([self.model.actuator(EXTERNAL_PREFIX + ext.gripper_actuator).id]
                                  if ext.gripper_actuator else [])
            self._gripper_ctrl = (ext.gripper_ctrl_open, ext.gripper_ctrl_closed)
        m = self.model
        self.data = mujoco.MjData(m)
        jids = [m.joint(n).id for n in joint_names]
        self.qadr = np.array([m.jnt_qposadr[j] for j in jids])
        self.dadr = np.array([m.jnt_dofadr[j] for j in jids])
        if not (np.all(np.diff(self.qadr) == 1) and np.all(np.diff(self.dadr) == 1)):
            raise ValueError("arm joints must be consecutive in the model")
        self._qs = slice(int(self.qadr[0]), int(self.qadr[0]) + len(jids))
        self._ds = slice(int(self.dadr[0]), int(self.dadr[0]) + len(jids))
        self.finger_qadr = np.array([m.jnt_qposadr[m.joint(n).id] for n in finger_joints])
        self.n = len(jids)
        self.controller = CartesianImpedanceController(cfg.impedance, self.n)
        self.home_q = np.asarray(cfg.home_q_rad, dtype=float)
        self.q_nullspace = self.home_q.copy()
        self._jac = np.zeros((6, m.nv))
        self._jacp = self._jac[:3]
        self._jacr = self._jac[3:]
        self.target_pos = np.zeros(3)
        self.target_rot = np.eye(3)
        self.gripper_command = 0.0  # 0 open ... 1 closed
        self.last_tau = np.zeros(self.n)
        # Views into MjData (its arrays never move), so the fast loop slices nothing per tick.
        d = self.data
        self._v_pos = d.site_xpos[self.tcp_site]
        self._v_rot = d.site_xmat[self.tcp_site].reshape(3, 3)
        self._v_q, self._v_dq, self._v_bias = d.qpos[self._qs], d.qvel[self._ds], d.qfrc_bias[self._ds]
        self._v_jac = self._jac[:, self._ds]
        self._v_qfrc = d.qfrc_applied[self._ds]
        self.physics_steps_per_tick = cfg.physics_steps_per_tick()
        self.tick_dt_s = self.physics_steps_per_tick * m.opt.timestep
        self._queue: deque = deque()  # (due time [s], pos, rot) of targets still in transit (control_latency_s)
        self._blend_next: tuple | None = None
        # the payload's weight is not in the law's bias (the controller does not know the load): F = -m g at the TCP
        self._payload_f = -cfg.model.payload_kg * m.opt.gravity if cfg.external is None else np.zeros(3)
        self._bias_buf = np.zeros(self.n)
        self.filters = FilteredImpedanceLoop(self.controller, cfg.filters, self.tick_dt_s) if cfg.filters.enabled else None
        self._law = self.controller if self.filters is None else self.filters
        self.reset()

    # ---- state -------------------------------------------------------------------------------------------
    @property
    def q(self) -> np.ndarray:
        return self.data.qpos[self._qs]

    @property
    def dq(self) -> np.ndarray:
        return self.data.qvel[self._ds]

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        d = self.data
        return d.site_xpos[self.tcp_site].copy(), d.site_xmat[self.tcp_site].reshape(3, 3).copy()

    def ee_velocity(self) -> np.ndarray:
        """[linear; angular] end-effector velocity in the base frame."""
        mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.tcp_site)
        return self._jac[:, self._ds] @ self.dq

    def gripper_width(self) -> float:
        w = float(np.sum(self.data.qpos[self.finger_qadr]))
        return w if self.cfg.external is not None else min(w, PANDA_GRIPPER_MAX_WIDTH_M)

    def ee_wrench(self) -> np.ndarray:
        """External wrench [N, Nm] on the hand and fingers from contacts, base frame, about the TCP."""
        m, d = self.model, self.data
        hand_root = m.site_bodyid[self.tcp_site]
        w = np.zeros(6)
        f6 = np.zeros(6)
        tcp = d.site_xpos[self.tcp_site]
        for i in range(d.ncon):
            c = d.contact[i]
            b1, b2 = m.geom_bodyid[c.geom1], m.geom_bodyid[c.geom2]
            in1, in2 = self._in_hand(b1, hand_root), self._in_hand(b2, hand_root)
            if in1 == in2:
                continue
            mujoco.mj_contactForce(m, d, i, f6)
            frame = c.frame.reshape(3, 3)
            f = frame.T @ f6[:3]  # force on geom2 from geom1, world frame
            if in1:
                f = -f
            w[:3] += f
            w[3:] += np.cross(c.pos - tcp, f)
        return w

    def _in_hand(self, body: int, hand_root: int) -> bool:
        m = self.model
        while body > 0:
            if body == hand_root:
                return True
            body = m.body_parentid[body]
        return False

    # ---- commands ----------------------------------------------------------------------------------------
    def set_target(self, pos, rot) -> None:
        """The impedance target; it reaches the law ``control_latency_s`` later (at once without latency)."""
        if self.cfg.control_latency_s > 0.0:
            self.queue_target(self.data.time + self.cfg.control_latency_s, pos, rot)
        else:
            self.target_pos[:] = pos
            self.target_rot[:] = rot

    def queue_target(self, due_s: float, pos, rot) -> None:
        """A target the law takes from simulated time ``due_s`` on (a log's replay schedules its targets so)."""
        self._queue.append((float(due_s), np.array(pos, float), np.array(rot, float)))

    def _take_due_targets(self, t_s: float, dt_s: float) -> None:
        if self._blend_next is not None:
            self.target_pos[:], self.target_rot[:] = self._blend_next
            self._blend_next = None
        q = self._queue
        while q and q[0][0] <= t_s:
            due, pos, rot = q.popleft()
            w = (t_s - due) / dt_s
            if w >= 1.0 or (q and q[0][0] <= t_s):
                self.target_pos[:], self.target_rot[:] = pos, rot
                continue
            prev = self.target_rot.copy()
            self.target_pos[:] = self.target_pos + w * (pos - self.target_pos)
            self.target_rot[:] = prev @ rotvec_to_mat(w * mat_to_rotvec(prev.T @ rot))
            self._blend_next = (pos, rot)

    def set_gripper(self, closedness: float) -> None:
        c = float(np.clip(closedness, 0.0, 1.0))
        self.gripper_command = c
        open_, closed = self._gripper_ctrl
        for a in self._gripper_acts:
            self.data.ctrl[a] = open_ + c * (closed - open_)

    def reset(self, q=None, gripper_closedness: float = 0.0) -> None:
        d = self.data
        mujoco.mj_resetData(self.model, d)
        self.controller.reset()
        self._queue.clear()
        self._blend_next = None
        d.qpos[self._qs] = self.home_q if q is None else q
        open_w = 0.0 if gripper_closedness >= 0.5 else 0.04
        if self.cfg.external is None:
            d.qpos[self.finger_qadr] = open_w
        self.set_gripper(gripper_closedness)
        mujoco.mj_forward(self.model, d)
        pos, rot = self.ee_pose()
        self.target_pos[:], self.target_rot[:] = pos, rot
        if self.filters is not None:
            self.filters.reset(pos, rot)
        self.last_tau[:] = 0.0

    # ---- the fast loop -----------------------------------------------------------------------------------
    def control_torque(self) -> np.ndarray:
        """One tick of the impedance law from the current (forward-computed) state."""
        mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.tcp_site)
        bias = self._v_bias
        if self._payload_f[2] != 0.0:
            bias = np.subtract(bias, self._jacp[:, self._ds].T @ self._payload_f, out=self._bias_buf)
        return self._law.compute(self._v_pos, self._v_rot, self._v_jac, self._v_q, self._v_dq,
                                 self.target_pos, self.target_rot, self.q_nullspace, bias)

    def step(self, n_ticks: int = 1) -> None:
        """Advance ``n_ticks`` control ticks: the law runs on the state mj_step1 computed, then mj_step2
        integrates; the torque is held for the remaining physics steps of the tick."""
        m, d = self.model, self.data
        qfrc = self._v_qfrc
        step1, step2, step = mujoco.mj_step1, mujoco.mj_step2, mujoco.mj_step
        hold = self.physics_steps_per_tick - 1
        gain, tau = self.cfg.actuator_gain, self.last_tau
        for _ in range(n_ticks):
            if self._queue or self._blend_next is not None:
                self._take_due_targets(d.time, self.tick_dt_s)
            step1(m, d)
            tau[:] = self.control_torque()
            if gain != 1.0:
                np.multiply(tau, gain, out=qfrc)
            else:
                qfrc[:] = tau
            step2(m, d)
            if hold:
                step(m, d, hold)

    def ticks_for(self, duration_s: float) -> int:
        return max(1, round(duration_s / self.tick_dt_s))

    # ---- helpers -----------------------------------------------------------------------------------------
    def solve_ik(self, pos, rot, q0=None, iters: int = 100, tol_m: float = 1e-4) -> np.ndarray:
        """Damped least-squares IK on the twin's kinematics (used to place the arm at reset)."""
        m = self.model
        d = mujoco.MjData(m)
        # from the model's reference configuration, not the live state: the Jacobian's roundoff depends on the
        # fingers' (subtree COM) positions, so a live start made reset poses differ in the last bits between an
        # env with history and a fresh one, and a resumed training run drifted from the one that saved it
        d.qpos[:] = m.qpos0
        q = (self.home_q if q0 is None else np.asarray(q0, float)).copy()
        jacp, jacr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
        jnt = m.dof_jntid[self._ds]
        lo, hi = m.jnt_range[jnt, 0], m.jnt_range[jnt, 1]
        from robot_rl.controllers.impedance import rotation_error

        for _ in range(iters):
            d.qpos[self._qs] = q
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            p = d.site_xpos[self.tcp_site]
            r = d.site_xmat[self.tcp_site].reshape(3, 3)
            err = np.concatenate([pos - p, -rotation_error(r, rot)])
            if np.linalg.norm(err[:3]) < tol_m and np.linalg.norm(err[3:]) < 10 * tol_m:
                break
            mujoco.mj_jacSite(m, d, jacp, jacr, self.tcp_site)
            j = np.vstack([jacp[:, self._ds], jacr[:, self._ds]])
            dq = j.T @ np.linalg.solve(j @ j.T + 1e-4 * np.eye(6), err)
            # small pull toward the home posture in the null space keeps solutions near the usual elbow-up pose
            dq += (np.eye(self.n) - np.linalg.pinv(j) @ j) @ (0.1 * (self.home_q - q))
            q = np.clip(q + dq, lo, hi)
        return q


def load_external_model(
    spec: ExternalArmSpec, objects_xml: str = "", hand_xml: str = "", model_cfg: ArmModelConfig = ArmModelConfig()
) -> mujoco.MjModel:
    """Our scene (table, lights, cameras, task objects) with an external arm MJCF attached at the origin.

    Every name of the external file gets the prefix ``EXTERNAL_PREFIX`` in the compiled model. A TCP site
    (``robot_rl_tcp``) and the task's hand tool are added to ``spec.ee_body``; the arm joints' own
    actuators, if any, are switched off so that the impedance torques alone drive the arm.
    """
    path = Path(spec.mjcf_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"external MJCF not found: {path}")
    scene = mujoco.MjSpec.from_string(build_scene(objects_xml, model_cfg, with_arm=False))
    arm = mujoco.MjSpec.from_file(str(path))
    if spec.meshdir is not None:
        arm.meshdir = spec.meshdir
    for attr in ("meshdir", "texturedir"):  # asset paths stay relative to the external file once attached
        d = getattr(arm, attr) or ""
        if not Path(d).is_absolute():
            setattr(arm, attr, str((path.parent / d).resolve()))
    ee = arm.body(spec.ee_body)
    if ee is None:
        raise ValueError(f"{path}: no body named {spec.ee_body!r} (set ExternalArmSpec.ee_body)")
    ee.add_site(name="robot_rl_tcp", pos=list(spec.tcp_offset_m), size=[0.005, 0.005, 0.005])
    if hand_xml:
        tool = mujoco.MjSpec.from_string(f'<mujoco><worldbody><body name="robot_rl_tool">{hand_xml}</body></worldbody></mujoco>')
        ee.add_frame().attach_body(tool.body("robot_rl_tool"), "", "")
    scene.attach(arm, prefix=EXTERNAL_PREFIX, frame=scene.worldbody.add_frame())
    model = scene.compile()
    arm_joints = {model.joint(EXTERNAL_PREFIX + n).id for n in spec.joint_names}
    for a in range(model.nu):
        if model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT and model.actuator_trnid[a, 0] in arm_joints:
            model.actuator_gainprm[a, :] = 0.0
            model.actuator_biasprm[a, :] = 0.0
    return model


def camera_intrinsics(model: mujoco.MjModel, camera: str, width: int, height: int) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) [px] of a MuJoCo camera rendered at width x height: from its sensor intrinsics when it has
    them (a calibrated CameraSpec), else the pinhole of its vertical field of view."""
    import math

    c = model.camera(camera).id
    if model.cam_sensorsize[c][1] > 0:
        fx_m, fy_m, px_m, py_m = model.cam_intrinsic[c]
        sw, sh = model.cam_sensorsize[c]
        fx, fy = fx_m / sw * width, fy_m / sh * height
        return fx, fy, (width - 1) / 2 - px_m / sw * width, (height - 1) / 2 - py_m / sh * height
    f = 0.5 * height / math.tan(math.radians(float(model.cam_fovy[c])) / 2)
    return f, f, (width - 1) / 2, (height - 1) / 2
