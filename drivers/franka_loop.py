"""The Franka driver's 1 kHz torque loop (the thread body of :class:`robot_rl.drivers.franka.FrankaArm`).

Every tick: read the robot state, let the watchdog choose what to servo to (``ArmWatchdog.servo_target``: the
target while fresh, else the pose held since it went stale or since the e-stop came in -- the twin's rule too),
run the filtered impedance law (or the joint-space reset move through the safety torque stage), write the torque.
Any exception stops the loop and latches a fault (see ``drivers/franka.py``).
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np

from robot_rl.controllers.watchdog import ArmMode, ArmWatchdog
from robot_rl.drivers.franka_config import ArmSnapshot, DriverMode, ResetMotionConfig

log = logging.getLogger("robot_rl.drivers.franka")

_WATCHDOG_TO_DRIVER = {ArmMode.WAITING: DriverMode.WAITING, ArmMode.TRACKING: DriverMode.TRACKING,
                       ArmMode.HOLD: DriverMode.HOLD, ArmMode.ESTOP: DriverMode.ESTOP}


class FrankaTorqueLoop:
    """The loop half of :class:`FrankaArm` (a base class): it uses the arm's ``robot``, ``model``, ``cfg``,
    ``controller``, ``filters``, ``_law``, ``q_nullspace``, the command mailbox (``_target``, ``_estop_requested``,
    ``_reset_request``) and writes ``mode``, ``ticks``, ``fault``, ``_snapshot`` and the torque-step telemetry."""

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
                    wd.on_target(now, tgt.age_s + max(0.0, now - tgt.arrival_s))
                if self._estop_requested and not wd.estop_latched:
                    wd.estop()  # this tick's servo_target captures the pose to hold: the one measured now
                    reset_plan = None
                    if self._reset_request is not None:
                        self._finish_reset(False, "e-stop engaged during the reset move")
                if self._reset_request is not None and reset_plan is None and not wd.estop_latched:
                    goal = self._reset_goal_q
                    rcfg = self.cfg.reset if goal is None else replace(self.cfg.reset, q_rad=tuple(goal))
                    reset_plan = ResetPlan(q, rcfg, now)
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
                    wmode, tp, tr = wd.servo_target(now, pos, rot, *((tgt.pos, tgt.rot) if tgt else (None, None)))
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
                                             np.array(state.O_F_ext_hat_K), mode, self.ticks,
                                             state.time.to_sec())
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



class ResetPlan:
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

