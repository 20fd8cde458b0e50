"""The quadrotor's scripted expert: the cascaded controller (``controllers/quad_control.py``) flying to the task's
target, speaking the env's action convention. ``quad_hover``: hold the target. ``quad_waypoints``: fly to a point
``gate_overshoot_m`` beyond the current gate along its normal, so the path crosses the gate's plane near its
centre. Attitude convention: the position loop runs at the policy rate and its thrust / attitude becomes the
action; rotors convention: the whole cascade runs at the policy rate."""
from __future__ import annotations

import math

import numpy as np

from robot_rl.contract.quad import action_from_attitude
from robot_rl.contract.rotations import mat_to_euler_zyx
from robot_rl.controllers.quad_control import QuadController, yaw_of


class QuadExpert:
    def __init__(self, env, noise_std: float = 0.0, seed: int = 0, gate_overshoot_m: float = 0.3):
        self.env = env.unwrapped
        self.ctl = QuadController(self.env.cfg.params, self.env.stack.cfg.control)
        self.noise_std = noise_std
        self.gate_overshoot_m = gate_overshoot_m
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def setpoint(self) -> np.ndarray:
        e = self.env
        if not e.task.n_gates or e.gates_passed >= len(e.gates):
            return e.target
        return e.gates[e.gates_passed] + self.gate_overshoot_m * e.gate_normals[e.gates_passed]

    def act(self, obs=None) -> np.ndarray:
        e, s = self.env, self.env.state
        sp = self.setpoint()
        if e.cfg.action_mode == "rotors":
            a = self.ctl.position(s, sp, yaw_sp_rad=0.0)
        else:
            thrust, rot_des = self.ctl.thrust_attitude_for(self.ctl.accel_for(s, sp), yaw_of(s.rot))
            roll, pitch, _ = mat_to_euler_zyx(rot_des)
            yaw = yaw_of(s.rot)
            yaw_rate = -self.ctl.cfg.yaw_gain_per_s * math.atan2(math.sin(yaw), math.cos(yaw))
            a = action_from_attitude(roll, pitch, yaw_rate, thrust, e.task.io, e.cfg.params)
        if self.noise_std > 0:
            a = a + self.rng.normal(0.0, self.noise_std, a.shape)
        return np.clip(a, -1.0, 1.0).astype(np.float32)


def make_quad_expert(env, noise_std: float = 0.0, seed: int = 0) -> QuadExpert:
    return QuadExpert(env, noise_std=noise_std, seed=seed)
