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

import enum
import logging
import math
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from robot_rl.controllers.filtered_loop import FilteredImpedanceLoop, FiltersConfig
from robot_rl.controllers.impedance import CartesianImpedanceConfig, CartesianImpedanceController
from robot_rl.controllers.watchdog import ArmMode, ArmWatchdog, ArmWatchdogConfig

log = logging.getLogger("robot_rl.drivers.franka")

Vec6 = tuple[float, float, float, float, float, float]
Vec7 = tuple[float, float, float, float, float, float, float]

FRANKA_HOME_Q_RAD: Vec7 = (0.0, -math.pi / 4, 0.0, -3 * math.pi / 4, 0.0, math.pi / 2, math.pi / 4)
FRANKA_COMMAND_PORT = 1337  # libfranka's TCP command port (robot)
FRANKA_GRIPPER_PORT = 1338
FRANKA_ROBOT_PROTOCOL_VERSION = 10  # libfranka 0.21 robot protocol (any answer counts in probe_franka)
FRANKA_GRIPPER_PROTOCOL_VERSION = 3
JOINT_NAMES = tuple(f"fr3_joint{i}" for i in range(1, 8))


class FrankaError(RuntimeError):
    """A clear, user-facing driver error (bad config, no robot, refused command)."""


class FrankaConnectionError(FrankaError):
    """No Franka answered at the configured address."""


class DriverMode(enum.Enum):
    IDLE = "idle"  # not started
    WAITING = "waiting"  # running, no target yet: holds the start pose
    TRACKING = "tracking"
    HOLD = "hold"  # target stale: holds the pose captured then
    ESTOP = "estop"  # latched: holds the pose captured at the e-stop
    RESETTING = "resetting"  # joint-space move to the reset posture
    FAULT = "fault"  # loop stopped by an exception; needs recover()
    STOPPED = "stopped"  # stopped on request


_WATCHDOG_TO_DRIVER = {ArmMode.WAITING: DriverMode.WAITING, ArmMode.TRACKING: DriverMode.TRACKING,
                       ArmMode.HOLD: DriverMode.HOLD, ArmMode.ESTOP: DriverMode.ESTOP}


def _vec(name: str, v, n: int, positive: bool = False) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    if a.shape != (n,) or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be {n} finite numbers, got {v!r}")
    if positive and not np.all(a > 0.0):
        raise ValueError(f"{name} must be > 0, got {v!r}")
    return a


@dataclass(frozen=True)
class CollisionBehaviorConfig:
    """Franka's collision/contact reflex thresholds (``Robot.set_collision_behavior``): above the upper
    threshold the robot stops with a reflex; between lower and upper it only flags contact. Defaults: the
    libfranka examples' values."""

    lower_torque_thresholds_nm: Vec7 = (20.0, 20.0, 18.0, 18.0, 16.0, 14.0, 12.0)
    upper_torque_thresholds_nm: Vec7 = (20.0, 20.0, 18.0, 18.0, 16.0, 14.0, 12.0)
    lower_force_thresholds_n_nm: Vec6 = (20.0, 20.0, 20.0, 25.0, 25.0, 25.0)
    upper_force_thresholds_n_nm: Vec6 = (20.0, 20.0, 20.0, 25.0, 25.0, 25.0)

    def validate(self) -> None:
        lt = _vec("lower_torque_thresholds_nm", self.lower_torque_thresholds_nm, 7, positive=True)
        ut = _vec("upper_torque_thresholds_nm", self.upper_torque_thresholds_nm, 7, positive=True)
        lf = _vec("lower_force_thresholds_n_nm", self.lower_force_thresholds_n_nm, 6, positive=True)
        uf = _vec("upper_force_thresholds_n_nm", self.upper_force_thresholds_n_nm, 6, positive=True)
        if np.any(lt > ut) or np.any(lf > uf):
            raise ValueError("collision behaviour: every lower threshold must be <= its upper threshold")


@dataclass(frozen=True)
class GripperConfig:
    enabled: bool = True
    speed_m_per_s: float = 0.1
    grasp_force_n: float = 20.0
    # command >= this closes with a grasp (force-controlled), below it the fingers move to a width
    grasp_threshold: float = 0.5
    # grasp succeeds for any object width: these are the tolerances libfranka checks the final width against
    grasp_epsilon_m: float = 0.08
    # width changes smaller than this are not sent (the latest command wins; the gripper is slow)
    command_deadband_m: float = 0.002
    state_poll_s: float = 0.02

    def validate(self) -> None:
        for name in ("speed_m_per_s", "grasp_force_n", "grasp_epsilon_m", "state_poll_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"GripperConfig.{name} must be finite and > 0, got {v!r}")
        if not (0.0 < self.grasp_threshold <= 1.0):
            raise ValueError(f"GripperConfig.grasp_threshold must be in (0, 1], got {self.grasp_threshold!r}")
        if not (math.isfinite(self.command_deadband_m) and self.command_deadband_m >= 0.0):
            raise ValueError("GripperConfig.command_deadband_m must be finite and >= 0")


@dataclass(frozen=True)
class ResetMotionConfig:
    """Joint-space move to the reset posture, inside the same torque loop (through the safety torque stage)."""

    q_rad: Vec7 = FRANKA_HOME_Q_RAD
    max_joint_speed_rad_per_s: float = 0.5
    # libfranka's joint-impedance example gains
    stiffness_nm_per_rad: Vec7 = (600.0, 600.0, 600.0, 600.0, 250.0, 150.0, 50.0)
    damping_nm_s_per_rad: Vec7 = (50.0, 50.0, 50.0, 20.0, 20.0, 20.0, 10.0)
    tolerance_rad: float = 0.01
    settle_speed_rad_per_s: float = 0.02
    timeout_s: float = 20.0

    def validate(self) -> None:
        _vec("ResetMotionConfig.q_rad", self.q_rad, 7)
        _vec("ResetMotionConfig.stiffness_nm_per_rad", self.stiffness_nm_per_rad, 7, positive=True)
        _vec("ResetMotionConfig.damping_nm_s_per_rad", self.damping_nm_s_per_rad, 7, positive=True)
        for name in ("max_joint_speed_rad_per_s", "tolerance_rad", "settle_speed_rad_per_s", "timeout_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise ValueError(f"ResetMotionConfig.{name} must be finite and > 0, got {v!r}")


# sys.setswitchinterval is process-wide: the shortest interval asked for holds while any loop runs, and the
# interpreter's own value comes back when the last one stops.
_switch_lock = threading.Lock()
_switch_users: list[float] = []
_switch_original_s: float | None = None


def _switch_interval_acquire(interval_s: float) -> None:
    global _switch_original_s
    with _switch_lock:
        if not _switch_users:
            _switch_original_s = sys.getswitchinterval()
        _switch_users.append(interval_s)
        sys.setswitchinterval(min(_switch_users))


def _switch_interval_release(interval_s: float) -> None:
    with _switch_lock:
        if interval_s in _switch_users:
            _switch_users.remove(interval_s)
        sys.setswitchinterval(min(_switch_users) if _switch_users else _switch_original_s)


@dataclass(frozen=True)
class FrankaArmConfig:
    robot_ip: str = "172.16.0.2"
    # "enforce" on a real-time kernel (a real robot); "ignore" for simulators (franky-sim) and dev machines
    realtime: str = "enforce"
    # Franka's control rate is fixed at 1 kHz: the filters' dt
    control_hz: float = 1000.0
    connect_timeout_s: float = 3.0
    impedance: CartesianImpedanceConfig = field(default_factory=CartesianImpedanceConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    watchdog: ArmWatchdogConfig = field(default_factory=ArmWatchdogConfig)
    collision: CollisionBehaviorConfig = field(default_factory=CollisionBehaviorConfig)
    gripper: GripperConfig = field(default_factory=GripperConfig)
    reset: ResetMotionConfig = field(default_factory=ResetMotionConfig)
    # posture the null space pulls toward; None: the reset posture
    nullspace_q_rad: Vec7 | None = None
    # The loop shares the interpreter with the caller's threads (e.g. a ROS executor): a short GIL switch
    # interval lets it get the GIL back within this time after each network wait. None leaves Python's (5 ms).
    gil_switch_interval_s: float | None = 1e-4

    def validate(self) -> None:
        if not isinstance(self.robot_ip, str) or not self.robot_ip.strip():
            raise ValueError(f"robot_ip must be a host name or address, got {self.robot_ip!r}")
        if self.realtime not in ("enforce", "ignore"):
            raise ValueError(f"realtime must be 'enforce' or 'ignore', got {self.realtime!r}")
        if not (math.isfinite(self.control_hz) and self.control_hz > 0.0):
            raise ValueError(f"control_hz must be finite and > 0, got {self.control_hz!r}")
        if not (math.isfinite(self.connect_timeout_s) and self.connect_timeout_s > 0.0):
            raise ValueError(f"connect_timeout_s must be finite and > 0, got {self.connect_timeout_s!r}")
        if self.gil_switch_interval_s is not None and not (0.0 < self.gil_switch_interval_s < 1.0):
            raise ValueError(f"gil_switch_interval_s must be in (0, 1) s or None, got {self.gil_switch_interval_s!r}")
        if self.nullspace_q_rad is not None:
            _vec("nullspace_q_rad", self.nullspace_q_rad, 7)
        self.impedance.validate()
        self.watchdog.validate()
        self.collision.validate()
        self.gripper.validate()
        self.reset.validate()


@dataclass(frozen=True)
class ArmSnapshot:
    """State of one control tick (base frame; SI units)."""

    stamp_s: float  # time.monotonic() of the tick
    q: np.ndarray
    dq: np.ndarray
    tau_measured_nm: np.ndarray  # tau_J
    tau_commanded_nm: np.ndarray  # what this driver sent (gravity excluded: the firmware adds it)
    ee_pos: np.ndarray
    ee_rot: np.ndarray
    ee_wrench: np.ndarray  # O_F_ext_hat_K: estimated external wrench [N, Nm], base frame
    mode: DriverMode
    ticks: int


@dataclass(frozen=True)
class _Target:
    seq: int
    pos: np.ndarray
    rot: np.ndarray
    arrival_s: float


def quat_xyzw_to_rot(q) -> np.ndarray:
    x, y, z, w = (float(v) for v in q)
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if not (math.isfinite(n) and n > 1e-9):
        raise ValueError(f"quaternion must be finite and non-zero, got {tuple(q)!r}")
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def rot_to_quat_xyzw(r: np.ndarray) -> np.ndarray:
    r = np.asarray(r, float)
    t = r[0, 0] + r[1, 1] + r[2, 2]
    if t > 0.0:
        s = 2.0 * math.sqrt(t + 1.0)
        q = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s]
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = 2.0 * math.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2])
        q = [0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s]
    elif r[1, 1] > r[2, 2]:
        s = 2.0 * math.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2])
        q = [(r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1])
        q = [(r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s, (r[1, 0] - r[0, 1]) / s]
    q = np.array(q)
    return q / np.linalg.norm(q)


def probe_franka(host: str, port: int = FRANKA_COMMAND_PORT, timeout_s: float = 3.0,
                 header_fmt: str = "<III", version: int = FRANKA_ROBOT_PROTOCOL_VERSION) -> None:
    """Raise :class:`FrankaConnectionError` unless a Franka (robot, or gripper with ``port=1338``,
    ``header_fmt="<HII"``) answers libfranka's Connect request on ``host:port`` within ``timeout_s``.

    Why: libfranka's own connect blocks, holding the GIL, for minutes when something accepts TCP but never
    answers, and for its own timeout on an address where nothing is; this probe turns "no robot there" into a
    clear error within the timeout. The probe's connection is closed before libfranka connects (any answer,
    even "incompatible version", proves a Franka is there)."""
    where = f"{host}:{port}"
    hint = "Is the robot on, FCI enabled in Desk, and robot_ip right?"
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as e:
        raise FrankaConnectionError(f"no Franka at {where}: {e.strerror or e} (within {timeout_s:g} s). {hint}") from None
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a real port for the state stream the peer may start
    try:
        udp.bind(("", 0))
        sock.settimeout(timeout_s)
        hdr = struct.calcsize(header_fmt)
        payload = struct.pack("<HH", version, udp.getsockname()[1])
        sock.sendall(struct.pack(header_fmt, 0, 0, hdr + len(payload)) + payload)
        got = b""
        deadline = time.monotonic() + timeout_s
        while len(got) < hdr:
            sock.settimeout(max(1e-3, deadline - time.monotonic()))
            chunk = sock.recv(hdr - len(got))
            if not chunk:
                raise FrankaConnectionError(f"{where} closed the connection without answering the Franka Connect "
                                            f"request. {hint}")
            got += chunk
        command = struct.unpack(header_fmt, got)[0]
        if command != 0:
            raise FrankaConnectionError(f"{where} answered, but not with a Franka Connect response. {hint}")
    except (socket.timeout, TimeoutError):
        raise FrankaConnectionError(f"{where} accepted TCP but did not answer the Franka Connect request within "
                                    f"{timeout_s:g} s: not a Franka (or FCI is off). {hint}") from None
    except OSError as e:
        raise FrankaConnectionError(f"no Franka at {where}: {e.strerror or e}. {hint}") from None
    finally:
        sock.close()
        udp.close()


def _import_pylibfranka():
    try:
        import pylibfranka
    except ImportError as e:  # pragma: no cover - depends on the install
        raise FrankaError(f"pylibfranka is not installed ({e}); pip install pylibfranka") from None
    return pylibfranka


class FrankaArm:
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
        self._gripper_worker: _GripperWorker | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect to the robot (and the gripper), load the model, set the collision behaviour."""
        plf = _import_pylibfranka()
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
            self._gripper_worker = _GripperWorker(self.gripper, cfg.gripper)
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
            _switch_interval_acquire(self.cfg.gil_switch_interval_s)  # process-wide: released by stop()
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
            _switch_interval_release(self.cfg.gil_switch_interval_s)
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
    def set_target(self, pos, rot) -> None:
        """New impedance target (base frame): pos (3,) [m], rot (3, 3). Non-finite input is refused here; the
        safety filter clips the position into the workspace box and limits the target's speed."""
        p = np.array(pos, dtype=float).reshape(3)
        r = np.array(rot, dtype=float).reshape(3, 3)
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(r))):
            raise ValueError("target pose must be finite")
        with self._lock:
            self._target_seq += 1
            self._target = _Target(self._target_seq, p, r, time.monotonic())

    def set_target_quat(self, pos, quat_xyzw) -> None:
        self.set_target(pos, quat_xyzw_to_rot(quat_xyzw))

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
        if not math.isfinite(c):
            raise ValueError(f"gripper command must be finite, got {closedness!r}")
        if self._gripper_worker is None:
            raise FrankaError("no gripper (GripperConfig.enabled is False or not connected)")
        if self._estop_requested or self.fault is not None:
            return
        self._gripper_worker.command(min(1.0, max(0.0, c)))

    def gripper_width_m(self) -> float | None:
        return None if self._gripper_worker is None else self._gripper_worker.width_m

    def move_to_reset(self, timeout_s: float | None = None) -> None:
        """Joint-space move to ``ResetMotionConfig.q_rad``; blocks until there (or raises FrankaError). Refused
        while a fault or the e-stop is latched: those need recover() first, on purpose."""
        if self.fault is not None:
            raise FrankaError(f"fault latched ({self.fault}); call recover() first")
        if self._estop_requested:
            raise FrankaError("e-stop latched; call recover() first")
        if not self.running:
            raise FrankaError("control loop not running")
        ev = threading.Event()
        self._reset_result = []
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
        plf = self._plf or _import_pylibfranka()
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
             "max_commanded_torque_step_nm": self.max_commanded_torque_step_nm,
             "max_sent_torque_step_nm": self.max_sent_torque_step_nm}
        if self.filters is not None:
            t.update(self.filters.telemetry())
        return t

    # ---- the 1 kHz loop ----------------------------------------------------------------------------------
    def _read(self, state):
        q = np.array(state.q)
        dq = np.array(state.dq)
        t = np.array(state.O_T_EE).reshape(4, 4, order="F")
        jac = np.array(self.model.zero_jacobian(state)).reshape(7, 6).T  # column-major 6x7
        bias = np.array(self.model.coriolis(state))
        return q, dq, np.ascontiguousarray(t[:3, 3]), np.ascontiguousarray(t[:3, :3]), jac, bias

    def _run(self) -> None:
        plf = self._plf
        torques = plf.Torques
        wd = ArmWatchdog(self.cfg.watchdog)
        estop_pose = None
        seen_seq = 0
        prev_tau_d = None
        prev_sent = None
        reset_plan = None
        first = True
        ctl = None
        try:
            ctl = self.robot.start_torque_control()
            while not self._stop.is_set():
                state, _ = ctl.readOnce()
                now = time.monotonic()
                q, dq, pos, rot, jac, bias = self._read(state)
                tau_d = np.array(state.tau_J_d)
                if prev_tau_d is not None:
                    step = float(np.max(np.abs(tau_d - prev_tau_d)))
                    if step > self.max_commanded_torque_step_nm:
                        self.max_commanded_torque_step_nm = step
                prev_tau_d = tau_d
                if first:
                    if self.filters is not None:
                        self.filters.reset(pos, rot)
                    self.controller.reset()
                    first = False
                tgt = self._target
                if tgt is not None and tgt.seq != seen_seq:
                    # stamped with this tick's time: the watchdog refuses times earlier than one it has seen, and
                    # a target set by another thread during the previous tick carries such a time
                    seen_seq = tgt.seq
                    wd.on_target(now)
                if self._estop_requested and not wd.estop_latched:
                    wd.estop()
                    estop_pose = (pos.copy(), rot.copy())
                    reset_plan = None
                    if self._reset_request is not None:
                        self._finish_reset(False, "e-stop engaged during the reset move")
                if self._reset_request is not None and reset_plan is None and not wd.estop_latched:
                    reset_plan = _ResetPlan(q, self.cfg.reset, now)
                if reset_plan is not None:
                    tau, done, msg = reset_plan.torque(q, dq, bias, now)
                    if self.filters is not None and self.filters.use_safety:
                        tau = self.filters.safety.filter_torque(tau, q, dq, bias, jac.dot(dq), jac)
                    mode = DriverMode.RESETTING
                    if done is not None:
                        reset_plan = None
                        wd = ArmWatchdog(self.cfg.watchdog)  # forget the old target: hold here until a new one
                        seen_seq = tgt.seq if tgt is not None else seen_seq
                        if self.filters is not None:  # snap the target filter, keep the torque-rate history
                            prev = self.filters.safety.prev_active.copy()
                            self.filters.reset(pos, rot)
                            self.filters.safety.prev_active[:] = prev
                        self.controller.reset()
                        mode = DriverMode.WAITING
                        self.mode = mode
                        self._finish_reset(done, msg)
                else:
                    wmode = wd.update(now, pos, rot)
                    if wmode is ArmMode.TRACKING:
                        tp, tr = tgt.pos, tgt.rot
                    elif wmode is ArmMode.ESTOP:
                        tp, tr = estop_pose
                    else:
                        tp, tr = wd.hold_pos, wd.hold_rot
                    tau = self._law.compute(pos, rot, jac, q, dq, tp, tr, self.q_nullspace, bias)
                    mode = _WATCHDOG_TO_DRIVER[wmode]
                ctl.writeOnce(torques(tau.tolist()))
                if prev_sent is not None:
                    step = float(np.max(np.abs(tau - prev_sent)))
                    if step > self.max_sent_torque_step_nm:
                        self.max_sent_torque_step_nm = step
                    prev_sent[:] = tau
                else:
                    prev_sent = tau.copy()
                self.ticks += 1
                self.mode = mode
                self._snapshot = ArmSnapshot(now, q, dq, np.array(state.tau_J), tau.copy(), pos, rot,
                                             np.array(state.O_F_ext_hat_K), mode, self.ticks)
            # finish the motion: the robot then holds with its internal controller
            fin = torques([0.0] * 7)
            fin.motion_finished = True
            ctl.writeOnce(fin)
        except Exception as e:  # noqa: BLE001 - every loop failure is a latched, logged fault
            self.fault = f"{type(e).__name__}: {e}"
            errors = ""
            try:
                errors = str(self.robot.read_once().last_motion_errors)
            except Exception:  # noqa: BLE001 - the connection may be gone
                pass
            log.error("control loop stopped: %s; robot errors: %s. The arm stays stopped until an explicit "
                      "recover().", self.fault, errors or "unavailable")
            self.mode = DriverMode.FAULT
            if self._reset_request is not None:
                self._finish_reset(False, f"fault during the reset move: {self.fault}")
            if self._gripper_worker is not None:
                self._gripper_worker.halt()

    def _finish_reset(self, ok: bool, msg: str) -> None:
        ev = self._reset_request
        self._reset_request = None
        self._reset_result = [(ok, msg)]
        if ev is not None:
            ev.set()


class _ResetPlan:
    """Linear joint-space reference at bounded speed toward the reset posture, tracked by a joint PD."""

    def __init__(self, q0, cfg: ResetMotionConfig, t0: float):
        self.q0 = np.array(q0, float)
        self.q1 = np.asarray(cfg.q_rad, float)
        self.cfg = cfg
        self.t0 = t0
        self.duration_s = float(np.max(np.abs(self.q1 - self.q0))) / cfg.max_joint_speed_rad_per_s
        self.k = np.asarray(cfg.stiffness_nm_per_rad, float)
        self.d = np.asarray(cfg.damping_nm_s_per_rad, float)

    def torque(self, q, dq, bias, now):
        """(torque incl. bias, done: None | True | False, message)."""
        t = now - self.t0
        s = 1.0 if self.duration_s <= 0.0 else min(1.0, t / self.duration_s)
        q_ref = self.q0 + s * (self.q1 - self.q0)
        tau = self.k * (q_ref - q) - self.d * dq + bias
        done, msg = None, ""
        if s >= 1.0 and np.max(np.abs(self.q1 - q)) < self.cfg.tolerance_rad \
                and np.max(np.abs(dq)) < self.cfg.settle_speed_rad_per_s:
            done, msg = True, "at the reset posture"
        elif t > self.cfg.timeout_s:
            done, msg = False, (f"reset move timed out after {self.cfg.timeout_s:g} s, joint error "
                                f"{np.max(np.abs(self.q1 - q)):.3f} rad")
        return tau, done, msg


class _GripperWorker:
    """Runs the gripper's blocking moves on a thread (latest command wins) and polls its width."""

    def __init__(self, gripper, cfg: GripperConfig):
        self.gripper = gripper
        self.cfg = cfg
        st = gripper.read_once()
        self.max_width_m = float(st.max_width) if st.max_width > 0 else 0.08
        self.width_m = float(st.width)
        self.is_grasped = bool(st.is_grasped)
        self._pending: float | None = None
        self._last_sent_width: float | None = None
        self._cv = threading.Condition()
        self._closed = False
        self.error: str | None = None
        self._cmd_thread = threading.Thread(target=self._commands, name="franka-gripper-cmd", daemon=True)
        self._state_thread = threading.Thread(target=self._poll, name="franka-gripper-state", daemon=True)
        self._cmd_thread.start()
        self._state_thread.start()

    def command(self, closedness: float) -> None:
        with self._cv:
            self._pending = closedness
            self._cv.notify()

    def halt(self) -> None:
        with self._cv:
            self._pending = None
        try:
            self.gripper.stop()
        except Exception as e:  # noqa: BLE001 - best effort; logged
            log.warning("gripper stop failed: %s", e)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._cmd_thread.join(1.0)
        self._state_thread.join(1.0)

    def _commands(self) -> None:
        cfg = self.cfg
        while True:
            with self._cv:
                while self._pending is None and not self._closed:
                    self._cv.wait(0.1)
                if self._closed:
                    return
                c, self._pending = self._pending, None
            width = (1.0 - c) * self.max_width_m
            grasp = c >= cfg.grasp_threshold
            if (not grasp and self._last_sent_width is not None
                    and abs(width - self._last_sent_width) < cfg.command_deadband_m):
                continue
            try:
                if grasp:
                    ok = self.gripper.grasp(width, cfg.speed_m_per_s, cfg.grasp_force_n, cfg.grasp_epsilon_m,
                                            cfg.grasp_epsilon_m)
                else:
                    ok = self.gripper.move(width, cfg.speed_m_per_s)
                self._last_sent_width = None if grasp else width
                if not ok:
                    log.warning("gripper %s to %.3f m reported failure", "grasp" if grasp else "move", width)
            except Exception as e:  # noqa: BLE001 - the gripper's failure must not take down the arm
                self.error = f"{type(e).__name__}: {e}"
                log.error("gripper command failed: %s", self.error)

    def _poll(self) -> None:
        while not self._closed:
            try:
                st = self.gripper.read_once()
                self.width_m = float(st.width)
                self.is_grasped = bool(st.is_grasped)
            except Exception as e:  # noqa: BLE001
                self.error = f"{type(e).__name__}: {e}"
                log.error("gripper state read failed: %s", self.error)
                return
            time.sleep(self.cfg.state_poll_s)
