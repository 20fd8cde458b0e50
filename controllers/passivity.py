"""Passivity filter: an energy tank on the non-passive part of a command (plain Python/numpy, no I/O).

The command is split into a passive baseline (gravity compensation, damping, a spring toward a fixed point) and
a non-passive part ``u`` (in the arm's loop: the impedance spring toward the policy's moving target). Energy the
non-passive part puts into the robot is drawn from a tank of energy ``E``:

* each tick the requested power at the port is ``P = u . v``;
* if ``P <= 0`` the action passes unchanged (``alpha = 1``) and the returned energy ``-dt P`` refills the tank;
* if ``E - dt P`` would fall below ``E_min`` the action is scaled by ``alpha = (E - E_min) / (dt P)``, clipped
  to [0, 1]; otherwise it passes unchanged; the tank loses ``dt alpha P``, the energy actually drawn;
* the power the baseline dissipates (``v^T D v`` for a damping ``D``) may refill the tank, times
  ``harvest_efficiency``; the tank never holds more than ``E_max`` (the excess is spilled). Keep ``E_max``
  low: harvested energy can sustain a bounded oscillation;
* a passivity observer, as in time-domain passivity control, corrects the one-step prediction with the energy
  the port really delivered over the tick, measured with the next tick's velocity
  (:meth:`EnergyTank.observe`). Energy delivered beyond what the tank paid for cannot be taken back; it is kept
  as ``debt_j`` and repaid first from anything that flows back (harvest, returned energy) while the tank
  lets no more energy out (``alpha = 0`` for ``P > 0`` while in debt).

Invariants (pinned by tests/test_passivity.py):
``E_min <= E <= E_max`` after every call; ``alpha`` in [0, 1]; and, with ``W`` the net energy injected at the
port (``injected_j``) and ``H`` the energy harvested (``harvested_j``)::

    E - debt = E0 - W + H - spilled      hence     W <= E0 - E_min + H + debt

(``debt`` is 0 whenever the observer finds no more energy delivered than predicted).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EnergyTankConfig:
    # Sized for the twin's scripted tasks: an expert episode draws at most ~1.2 J net (pick_cube, 30 seeds), mostly
    # lost to joint friction, which the tank cannot harvest; E_max stays low so harvest cannot bank much more.
    initial_energy_j: float = 2.0
    min_energy_j: float = 0.05
    max_energy_j: float = 2.0
    # Fraction of the baseline's dissipated power credited back to the tank (0 disables harvesting).
    harvest_efficiency: float = 1.0
    # Correct each tick's predicted draw with the realised port energy (next tick's velocity).
    observer_enabled: bool = True

    def validate(self) -> None:
        vals = (self.initial_energy_j, self.min_energy_j, self.max_energy_j, self.harvest_efficiency)
        if not all(math.isfinite(v) for v in vals):
            raise ValueError(f"EnergyTankConfig values must be finite: {self}")
        if not 0.0 < self.min_energy_j < self.max_energy_j:
            raise ValueError(f"need 0 < min_energy_j < max_energy_j, got {self.min_energy_j}, {self.max_energy_j}")
        if not self.min_energy_j <= self.initial_energy_j <= self.max_energy_j:
            raise ValueError(f"initial_energy_j={self.initial_energy_j} must lie in [min_energy_j, max_energy_j]")
        if not 0.0 <= self.harvest_efficiency <= 1.0:
            raise ValueError(f"harvest_efficiency must be in [0, 1], got {self.harvest_efficiency}")


class EnergyTank:
    """The tank and its bookkeeping. Scalar API (:meth:`step`, :meth:`observe`) for the fast loop, vector API
    (:meth:`filter`) for a port given as force and velocity vectors.

    Telemetry (read the attributes): ``energy_j`` (E), ``alpha`` (last scaling), ``injected_j`` (net energy
    the port delivered, realised), ``harvested_j``, ``spilled_j``, ``debt_j``, ``limited_ticks`` (ticks with
    ``alpha < 1``), ``rejected_ticks`` (non-finite power: alpha = 0).
    """

    def __init__(self, cfg: EnergyTankConfig = EnergyTankConfig()):
        cfg.validate()
        self.cfg = cfg
        self.e_min = cfg.min_energy_j
        self.e_max = cfg.max_energy_j
        self.harvest_efficiency = cfg.harvest_efficiency
        self.reset()

    def reset(self) -> None:
        self.energy_j = self.cfg.initial_energy_j
        self.alpha = 1.0
        self.injected_j = 0.0
        self.harvested_j = 0.0
        self.spilled_j = 0.0
        self.debt_j = 0.0
        self.predicted_j = 0.0  # energy the last step expected the port to deliver (dt alpha P)
        self.limited_ticks = 0
        self.rejected_ticks = 0

    # ---- bookkeeping -------------------------------------------------------------------------------------
    def _credit(self, x: float) -> None:
        """Energy flowing into the tank (x >= 0): repays the debt first, the rest fills up to E_max."""
        d = self.debt_j
        if d > 0.0:
            if x <= d:
                self.debt_j = d - x
                return
            self.debt_j = 0.0
            x -= d
        e = self.energy_j + x
        if e > self.e_max:
            self.spilled_j += e - self.e_max
            e = self.e_max
        self.energy_j = e

    def _debit(self, x: float) -> None:
        """Energy leaving the tank (x >= 0); what would take it below E_min becomes debt."""
        e = self.energy_j - x
        if e < self.e_min:
            self.debt_j += self.e_min - e
            e = self.e_min
        self.energy_j = e

    # ---- the filter --------------------------------------------------------------------------------------
    def step(self, power_w: float, dt_s: float, dissipated_power_w: float = 0.0) -> float:
        """Scaling ``alpha`` in [0, 1] for a requested port power ``P = u . v`` [W] over ``dt_s``; draws the
        energy the scaled action will deliver and credits the harvested dissipation. Non-finite ``P`` is
        rejected (alpha = 0)."""
        if -math.inf < power_w <= 0.0:  # passive request: untouched, and what flows back refills the tank
            alpha = 1.0
            drawn = dt_s * power_w
            self._credit(-drawn)
        elif 0.0 < power_w < math.inf:
            need = dt_s * power_w
            avail = self.energy_j - self.e_min
            if need <= avail:
                alpha = 1.0
                drawn = need
            else:
                alpha = avail / need if avail > 0.0 else 0.0
                drawn = avail
                self.limited_ticks += 1
            e = self.energy_j - drawn
            self.energy_j = e if e > self.e_min else self.e_min  # equal up to rounding when limited
        else:  # NaN or infinite
            alpha = 0.0
            drawn = 0.0
            self.rejected_ticks += 1
            self.limited_ticks += 1
        self.injected_j += drawn
        self.predicted_j = drawn
        if dissipated_power_w > 0.0 and dissipated_power_w < math.inf and self.harvest_efficiency > 0.0:
            h = self.harvest_efficiency * dt_s * dissipated_power_w
            self.harvested_j += h
            self._credit(h)
        self.alpha = alpha
        return alpha

    def observe(self, realised_j: float) -> None:
        """Passivity observer: the port really delivered ``realised_j`` over the last step (its applied force
        times the velocity averaged over the tick, next tick's velocity included); correct the tank by the
        difference to the prediction. Non-finite values are ignored."""
        if not self.cfg.observer_enabled or not math.isfinite(realised_j):
            return
        err = realised_j - self.predicted_j
        self.predicted_j = realised_j
        self.injected_j += err
        if err > 0.0:
            self._debit(err)
        elif err < 0.0:
            self._credit(-err)

    def filter(self, u: np.ndarray, v: np.ndarray, dt_s: float, dissipated_power_w: float = 0.0) -> np.ndarray:
        """Vector form: ``u`` scaled by the tank's ``alpha`` for the port velocity ``v`` (``u`` itself, untouched,
        when ``P = u . v <= 0``)."""
        u = np.asarray(u, dtype=float)
        p = float(np.dot(u, np.asarray(v, dtype=float)))
        alpha = self.step(p, dt_s, dissipated_power_w)
        return u if alpha == 1.0 else alpha * u

    @property
    def balance_j(self) -> float:
        """E - debt: the tank's true balance (equals E unless the observer found an unpaid overdraw)."""
        return self.energy_j - self.debt_j

    def telemetry(self) -> dict:
        return {
            "energy_j": self.energy_j,
            "alpha": self.alpha,
            "injected_j": self.injected_j,
            "harvested_j": self.harvested_j,
            "spilled_j": self.spilled_j,
            "debt_j": self.debt_j,
            "limited_ticks": self.limited_ticks,
            "rejected_ticks": self.rejected_ticks,
        }
