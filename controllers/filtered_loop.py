"""One tick of the arm's fast loop with its filters: the code the twin and the hardware driver both run.

Order within a tick (DESIGN.md: impedance -> safety -> passivity -> torques, with the safety filter split in
two so that the hardware limits are the very last thing applied):

1. safety, target stage: reject non-finite targets, workspace box, commanded end-effector speed;
2. the Cartesian impedance law (reference clipping inside it);
3. passivity: the energy tank scales the non-passive port, the impedance spring ``u = J^T F_s`` with
   ``F_s = -K e`` (the clipped pose error toward the policy's moving target), by ``alpha``. The passive
   baseline (gravity/bias, Cartesian and null-space damping, the null-space spring toward a fixed posture)
   is left alone; the Cartesian damping's dissipated power ``v^T D v`` refills the tank;
4. safety, torque stage: overspeed guard, joint-limit barrier, torque and torque-rate limits, NaN -> hold.

The passivity observer then charges the tank, at the next tick, with what the port really delivered: the
applied non-passive torque (``alpha u`` plus whatever the safety stage changed) times the joint velocity
averaged over the tick (this tick's and the next tick's).

``FiltersConfig.passivity_enabled = False`` keeps the tank as a monitor (same telemetry, ``alpha`` not
applied); ``safety_enabled = False`` bypasses both safety stages. With both off the torque is the impedance
law's, bit for bit, and the telemetry still measures the energy the port injects.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy._core import umath

from robot_rl.controllers.impedance import CartesianImpedanceController
from robot_rl.controllers.passivity import EnergyTank, EnergyTankConfig
from robot_rl.controllers.safety import SafetyConfig, SafetyFilter


@dataclass(frozen=True)
class FiltersConfig:
    enabled: bool = True  # master switch: False runs the bare impedance law (no telemetry)
    safety_enabled: bool = True
    passivity_enabled: bool = True  # False: the tank only monitors
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    tank: EnergyTankConfig = field(default_factory=EnergyTankConfig)


class FilteredImpedanceLoop:
    """Drop-in for :meth:`CartesianImpedanceController.compute` with the filters around it."""

    def __init__(self, controller: CartesianImpedanceController, cfg: FiltersConfig = FiltersConfig(),
                 dt_s: float = 0.002):
        self.controller = controller
        self.cfg = cfg
        self.dt_s = dt_s
        n = controller.n
        if cfg.safety_enabled:
            cfg.safety.validate_impedance(controller.cfg)
        self.safety = SafetyFilter(cfg.safety, dt_s, n)
        self.tank = EnergyTank(cfg.tank)
        self.use_safety = cfg.safety_enabled
        self.enforce_tank = cfg.passivity_enabled
        self._damping = -controller.neg_d  # Cartesian damping diagonal, for the harvested power
        self._f = np.zeros(6)  # spring force F_s (the non-passive port, task space)
        self._v = np.zeros(6)  # end-effector twist J dq
        self._dv = np.zeros(6)
        self._u = np.zeros(n)  # J^T F_s
        self._applied = np.zeros(n)  # non-passive torque applied last tick
        self._dq_prev = np.zeros(n)
        self._dq_sum = np.zeros(n)
        self._have_prev = False
        self.intervention_ticks = 0  # ticks with a violation (safety) or alpha < 1
        self.ticks = 0

    def reset(self, pos=None, rot=None) -> None:
        self.safety.reset(pos, rot)
        self.tank.reset()
        self._have_prev = False
        self.intervention_ticks = 0
        self.ticks = 0

    def compute(self, pos, rot, jac, q, dq, target_pos, target_rot, q_nullspace, bias=None) -> np.ndarray:
        """Joint torques [Nm] to send; same arguments as :meth:`CartesianImpedanceController.compute`."""
        safety, tank, dt = self.safety, self.tank, self.dt_s
        if self.use_safety:
            target_pos, target_rot = safety.filter_target(target_pos, target_rot)
        tau = self.controller.compute(pos, rot, jac, q, dq, target_pos, target_rot, q_nullspace, bias)
        f = umath.multiply(self.controller.neg_k, self.controller.error, out=self._f)
        v = np.dot(jac, dq, out=self._v)
        # passivity observer: what the port delivered over the last tick
        if self._have_prev:
            dq_sum = umath.add(self._dq_prev, dq, out=self._dq_sum)
            tank.observe(0.5 * dt * float(self._applied.dot(dq_sum)))
        power = float(f.dot(v))
        dissipated = float(umath.multiply(self._damping, v, out=self._dv).dot(v))
        alpha = tank.step(power, dt, dissipated)
        u = np.dot(jac.T, f, out=self._u)
        applied = self._applied
        if alpha < 1.0 and self.enforce_tank:
            tau -= (1.0 - alpha) * u
            umath.multiply(u, alpha, out=applied)
        else:
            applied[:] = u
        if self.use_safety:
            out = safety.filter_torque(tau, q, dq, bias, v, jac)
            applied -= tau
            applied += out  # + what the safety stage changed
            violation = safety.violation
        else:
            out = tau
            violation = False
        self._dq_prev[:] = dq
        self._have_prev = True  # a non-finite realised energy is ignored by the observer
        self.ticks += 1
        if violation or (alpha < 1.0 and self.enforce_tank):
            self.intervention_ticks += 1
        return out

    def telemetry(self) -> dict:
        return {**self.tank.telemetry(), **self.safety.counters(), "intervention_ticks": self.intervention_ticks,
                "ticks": self.ticks}
