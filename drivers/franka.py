"""Franka arm driver over ``pylibfranka`` (core: no ROS).

A 1 kHz torque-control loop (libfranka's external-controller mode) runs, every tick, the very law the twin
runs (``controllers/``): Cartesian impedance with reference clipping -> safety filter -> passivity filter
(energy tank), toward the latest impedance target. The Franka firmware adds gravity itself, so the law's
``bias`` is the Coriolis vector from the robot's model (``pylibfranka.Model``); the pose, the zero Jacobian
([linear; angular], base frame) and the joint state come from the robot state of the same tick.

Safety around the law:

* watchdog (``controllers.watchdog.ArmWatchdog``): a target older than ``target_timeout_s`` -> hold the pose
  measured when it went stale; before the first target, hold the pose at start;
* e-stop: latched; the arm holds the pose it had when the e-stop came in, targets and gripper commands are
  ignored until :meth:`FrankaArm.recover` (an explicit call) clears it;
* faults: any exception of the control loop (a reflex, a lost connection, a preempted motion) stops the loop,
  is logged with the robot's error flags, and latches :attr:`FrankaArm.fault`. Nothing clears it but an
  explicit :meth:`FrankaArm.recover` (libfranka's ``automatic_error_recovery`` then a fresh control loop);
  :meth:`FrankaArm.move_to_reset` refuses while a fault or the e-stop is latched.

Threads: the control loop owns the robot connection while it runs; :meth:`set_target`, :meth:`estop`,
:meth:`command_gripper` may be called from any thread (they only swap references the loop reads).
:meth:`snapshot` returns the state of the latest tick. The gripper (``pylibfranka.Gripper``, its own
connection) runs its blocking moves on a worker thread, the latest command wins.
"""
from __future__ import annotations

import logging
import math
import threading
import time

import numpy as np

from robot_rl.contract.rotations import mat_to_quat, quat_to_mat, wxyz_from_xyzw, xyzw_from_wxyz
from robot_rl.controllers.filtered_loop import FilteredImpedanceLoop
from robot_rl.controllers.impedance import CartesianImpedanceController
from robot_rl.drivers.franka_config import (  # noqa: F401 - re-exported: the driver's public names
    FRANKA_COMMAND_PORT,
    FRANKA_GRIPPER_PORT,
    FRANKA_GRIPPER_PROTOCOL_VERSION,
    FRANKA_HOME_Q_RAD,
    FRANKA_ROBOT_PROTOCOL_VERSION,
    JOINT_NAMES,
    ArmSnapshot,
    CollisionBehaviorConfig,
    DriverMode,
    FrankaArmConfig,
    FrankaConnectionError,
    FrankaError,
    GripperConfig,
    ResetMotionConfig,
    _Target,
)
from robot_rl.drivers.franka_gripper import GripperWorker
from robot_rl.drivers.franka_loop import FrankaTorqueLoop
from robot_rl.drivers.franka_robot import (  # noqa: F401 - probe_franka re-exported
    import_pylibfranka,
    probe_franka,
    switch_interval_acquire,
    switch_interval_release,
)

log = logging.getLogger("robot_rl.drivers.franka")


def quat_xyzw_to_rot(q) -> np.ndarray:
    """Rotation matrix of an (x, y, z, w) quaternion (libfranka / ROS order): the contract's conversion."""
    return quat_to_mat(wxyz_from_xyzw(q))


def rot_to_quat_xyzw(r) -> np.ndarray:
    """(x, y, z, w) quaternion (w >= 0) of a rotation matrix: the contract's conversion."""
    return xyzw_from_wxyz(mat_to_quat(r))


class FrankaArm(FrankaTorqueLoop):
    """One Franka arm: connect, run the filtered impedance loop in a thread, take targets, report state."""

    def __init__(self, cfg: FrankaArmConfig = FrankaArmConfig()):
        cfg.validate()
        self.cfg = cfg
        self.dt_s = 1.0 / cfg.control_hz
        self.controller = CartesianImpedanceController(cfg.impedance, 7)
        self.filters = FilteredImpedanceLoop(self.controller, cfg.filters, self.dt_s) if cfg.filters.enabled else None
        self._law = self.controller if self.filters is None else self.filters
        self.q_nullspace = np.asarray(cfg.nullspace_q_rad if cfg.nullspace_q_rad is not None else cfg.reset.q_rad,
                                      dtype=float)
        self.robot = None
        self.model = None
        self.gripper = None
        self._plf = None
        self._thread: threading.Thread | None = None
        self._holds_switch_interval = False
        self._stop = threading.Event()
        self._target: _Target | None = None
        self._target_seq = 0
        self._estop_requested = False
        self._reset_request: threading.Event | None = None
        self._reset_goal_q: np.ndarray | None = None  # this request's posture; None: ResetMotionConfig.q_rad
        self._reset_result: list = []
        self._snapshot: ArmSnapshot | None = None
        self._lock = threading.Lock()
        self.fault: str | None = None
        self.mode = DriverMode.IDLE
        self.ticks = 0
        # largest tick-to-tick change of the torque this driver sent, and of tau_J_d as the robot reported it
        # (the robot's view also grows when two commands land within one of its ticks, e.g. under CPU load)
        self.max_sent_torque_step_nm = 0.0
        self.max_commanded_torque_step_nm = 0.0
        self._gripper_worker: GripperWorker | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect to the robot (and the gripper), load the model, set the collision behaviour."""
        plf = import_pylibfranka()
        self._plf = plf
        cfg = self.cfg
        probe_franka(cfg.robot_ip, FRANKA_COMMAND_PORT, cfg.connect_timeout_s)
        rt = plf.RealtimeConfig.kEnforce if cfg.realtime == "enforce" else plf.RealtimeConfig.kIgnore
        try:
            self.robot = plf.Robot(cfg.robot_ip, rt)
            self.model = self.robot.load_model()
            c = cfg.collision
            self.robot.set_collision_behavior(list(c.lower_torque_thresholds_nm), list(c.upper_torque_thresholds_nm),
                                              list(c.lower_force_thresholds_n_nm), list(c.upper_force_thresholds_n_nm))
        except plf.RealtimeException as e:
            self.robot = None
            raise FrankaError(f"Franka at {cfg.robot_ip}: {e} (realtime='ignore' for simulators)") from None
        except (plf.NetworkException, plf.CommandException, plf.FrankaException, RuntimeError) as e:
            self.robot = None
            raise FrankaConnectionError(f"Franka at {cfg.robot_ip}: {e}") from None
        if cfg.gripper.enabled:
            probe_franka(cfg.robot_ip, FRANKA_GRIPPER_PORT, cfg.connect_timeout_s, "<HII",
                         FRANKA_GRIPPER_PROTOCOL_VERSION)
            try:
                self.gripper = plf.Gripper(cfg.robot_ip)
            except (plf.NetworkException, plf.FrankaException, RuntimeError) as e:
                raise FrankaConnectionError(f"Franka gripper at {cfg.robot_ip}: {e} (disable the gripper if the arm "
                                            f"has none)") from None
            self._gripper_worker = GripperWorker(self.gripper, cfg.gripper)
        log.info("connected to Franka at %s", cfg.robot_ip)

    def start(self) -> None:
        """Start the control loop (connects first if needed). Refuses while a fault is latched."""
        if self.fault is not None:
            raise FrankaError(f"fault latched ({self.fault}); call recover() first")
        if self._thread is not None and self._thread.is_alive():
            return
        if self.robot is None:
            self.connect()
        if self.cfg.gil_switch_interval_s is not None and not self._holds_switch_interval:
            switch_interval_acquire(self.cfg.gil_switch_interval_s)  # process-wide: released by stop()
            self._holds_switch_interval = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="franka-1khz", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Finish the torque motion (the robot holds with its own controller) and stop the gripper worker."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("control loop did not stop within %.1f s", timeout_s)
        if self._gripper_worker is not None:
            self._gripper_worker.close()
        if self._holds_switch_interval:
            switch_interval_release(self.cfg.gil_switch_interval_s)
            self._holds_switch_interval = False
        if self.fault is None:
            self.mode = DriverMode.STOPPED

    def close(self) -> None:
        self.stop()
        self._gripper_worker = None
        self.gripper = None
        self.model = None
        self.robot = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- commands (any thread) ---------------------------------------------------------------------------
    def set_target(self, pos, rot, age_s: float = 0.0) -> None:
        """New impedance target (base frame): pos (3,) [m], rot (3, 3), ``age_s`` old already (its stamp; the
        watchdog counts it). Non-finite input is refused here; the safety filter clips the position into the
        workspace box and limits the target's speed."""
        p = np.array(pos, dtype=float).reshape(3)
        r = np.array(rot, dtype=float).reshape(3, 3)
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(r))):
            raise ValueError("target pose must be finite")
        with self._lock:
            self._target_seq += 1
            self._target = _Target(self._target_seq, p, r, time.monotonic(), float(age_s))

    def set_target_quat(self, pos, quat_xyzw, age_s: float = 0.0) -> None:
        self.set_target(pos, quat_xyzw_to_rot(quat_xyzw), age_s)

    def estop(self) -> None:
        """Latch the e-stop: the arm holds where it is until recover()."""
        if not self._estop_requested:
            log.error("e-stop engaged: holding position until an explicit recover()")
        self._estop_requested = True
        if self._gripper_worker is not None:
            self._gripper_worker.halt()

    @property
    def estopped(self) -> bool:
        return self._estop_requested

    def command_gripper(self, closedness: float) -> None:
        """0 open ... 1 closed. Ignored while e-stopped or faulted."""
        c = float(closedness)
        if not (math.isfinite(c) and 0.0 <= c <= 1.0):
            raise ValueError(f"gripper command must be in [0, 1], got {closedness!r}")
        if self._gripper_worker is None:
            raise FrankaError("no gripper (GripperConfig.enabled is False or not connected)")
        if self._estop_requested or self.fault is not None:
            return
        self._gripper_worker.command(c)

    def gripper_width_m(self) -> float | None:
        return None if self._gripper_worker is None else self._gripper_worker.width_m

    def move_to_reset(self, timeout_s: float | None = None, q_rad=None) -> None:
        """Joint-space move to ``q_rad`` (default ``ResetMotionConfig.q_rad``); blocks until there (or raises
        FrankaError). Refused while a fault or the e-stop is latched: those need recover() first, on purpose."""
        goal = None
        if q_rad is not None:
            goal = np.array(q_rad, dtype=float).reshape(-1)
            if goal.shape != (7,) or not np.all(np.isfinite(goal)):
                raise ValueError(f"reset posture must be 7 finite joint angles [rad], got {q_rad!r}")
        if self.fault is not None:
            raise FrankaError(f"fault latched ({self.fault}); call recover() first")
        if self._estop_requested:
            raise FrankaError("e-stop latched; call recover() first")
        if not self.running:
            raise FrankaError("control loop not running")
        ev = threading.Event()
        self._reset_result = []
        self._reset_goal_q = goal
        self._reset_request = ev
        limit = self.cfg.reset.timeout_s if timeout_s is None else timeout_s
        if not ev.wait(limit + 1.0):
            raise FrankaError(f"reset move did not finish within {limit:g} s")
        ok, msg = self._reset_result[0] if self._reset_result else (False, "no result")
        if not ok:
            raise FrankaError(msg)

    def recover(self) -> None:
        """Explicit recovery: clear the robot's error state (libfranka automatic_error_recovery), clear a latched
        fault and e-stop, restart the control loop holding the current pose. Logged."""
        plf = self._plf or import_pylibfranka()
        if self.running:
            self._stop.set()
            self._thread.join(2.0)
        if self.robot is None:
            self.connect()
        log.warning("explicit recovery requested (fault=%s, estop=%s)", self.fault, self._estop_requested)
        try:
            self.robot.automatic_error_recovery()
        except (plf.CommandException, plf.NetworkException) as e:
            raise FrankaError(f"error recovery failed: {e}") from None
        self.fault = None
        self._estop_requested = False
        with self._lock:
            self._target = None
        self.start()

    # ---- state -------------------------------------------------------------------------------------------
    def snapshot(self) -> ArmSnapshot | None:
        return self._snapshot

    def telemetry(self) -> dict:
        t = {"mode": self.mode.value, "fault": self.fault, "estop": self._estop_requested, "ticks": self.ticks,
             "targets": self._target_seq,  # targets accepted since start: is the commander's stream arriving?
             "max_commanded_torque_step_nm": self.max_commanded_torque_step_nm,
             "max_sent_torque_step_nm": self.max_sent_torque_step_nm}
        if self.filters is not None:
            t.update(self.filters.telemetry())
        return t



__all__ = ["FRANKA_COMMAND_PORT", "FRANKA_GRIPPER_PORT", "FRANKA_GRIPPER_PROTOCOL_VERSION", "FRANKA_HOME_Q_RAD",
           "FRANKA_ROBOT_PROTOCOL_VERSION", "JOINT_NAMES", "ArmSnapshot", "CollisionBehaviorConfig", "DriverMode",
           "FrankaArm", "FrankaArmConfig", "FrankaConnectionError", "FrankaError", "GripperConfig",
           "ResetMotionConfig", "probe_franka", "quat_xyzw_to_rot", "rot_to_quat_xyzw"]
