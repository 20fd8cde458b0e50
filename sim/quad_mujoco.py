"""The quadrotor rigid body in MuJoCo, generated from :class:`robot_rl.contract.quad.QuadParams`: a free body with
the config's mass and principal inertia (no contacts: crashes are detected by the task), integrated with MuJoCo's
semi-implicit Euler. Rotor forces are not MuJoCo actuators: :class:`robot_rl.sim.quad_twin.QuadTwin` computes the
wrench and writes it to ``xfrc_applied`` each step, the same wrench the PyBullet body receives."""
from __future__ import annotations

import mujoco
import numpy as np

from robot_rl.contract.quad import QuadParams


def quad_mjcf(p: QuadParams, dt_s: float) -> str:
    """The MJCF of the vehicle (body frame: x forward, z up; rotor discs drawn at the rotor positions)."""
    ixx, iyy, izz = p.inertia_kg_m2
    rotors = "\n".join(
        f'      <geom name="rotor{i}" type="cylinder" size="0.023 0.002" pos="{x:.5f} {y:.5f} 0.01" rgba=".2 .2 .2 .5"/>'
        for i, (x, y) in enumerate(p.rotor_xy_m))
    return f"""<mujoco model="crazyflie_2x">
  <option timestep="{dt_s}" gravity="0 0 {-p.gravity_m_per_s2}" integrator="Euler">
    <flag contact="disable"/>
  </option>
  <worldbody>
    <light pos="0 0 4" dir="0 0 -1"/>
    <geom name="ground" type="plane" size="3 3 0.1" rgba=".8 .8 .8 1"/>
    <body name="quad" pos="0 0 1">
      <freejoint name="quad_free"/>
      <inertial pos="0 0 0" mass="{p.mass_kg}" diaginertia="{ixx} {iyy} {izz}"/>
      <geom name="frame" type="box" size="{p.arm_length_m * 0.7:.4f} 0.004 0.003" euler="0 0 0.7854" mass="0"
            rgba=".1 .1 .8 1"/>
      <geom name="frame2" type="box" size="{p.arm_length_m * 0.7:.4f} 0.004 0.003" euler="0 0 -0.7854" mass="0"
            rgba=".1 .1 .8 1"/>
{rotors}
    </body>
  </worldbody>
</mujoco>"""


class MujocoQuadBody:
    """The engine side of the twin: reset, set mass, step with a world-frame force and torque at the COM."""

    def __init__(self, p: QuadParams, dt_s: float):
        self.model = mujoco.MjModel.from_xml_string(quad_mjcf(p, dt_s))
        for i in range(self.model.ngeom):  # massless visuals: the inertial element alone sets mass and inertia
            self.model.geom_contype[i] = self.model.geom_conaffinity[i] = 0
        self.data = mujoco.MjData(self.model)
        self.bid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "quad")

    def set_mass(self, mass_kg: float, inertia_kg_m2) -> None:
        self.model.body_mass[self.bid] = mass_kg
        self.model.body_inertia[self.bid] = inertia_kg_m2

    def reset(self, pos, quat, linvel, angvel_body) -> None:
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:3], self.data.qpos[3:7] = pos, quat / np.linalg.norm(quat)
        self.data.qvel[:3], self.data.qvel[3:6] = linvel, angvel_body  # free joint: angular velocity in body frame
        mujoco.mj_forward(self.model, self.data)

    def quat(self) -> np.ndarray:
        return self.data.qpos[3:7]

    def step(self, force_world, torque_world) -> None:
        xf = self.data.xfrc_applied[self.bid]
        xf[:3], xf[3:] = force_world, torque_world
        mujoco.mj_step(self.model, self.data)

    def state(self):
        from robot_rl.contract.quad import QuadState

        d = self.data
        return QuadState(d.qpos[:3].copy(), d.qpos[3:7].copy(), d.qvel[:3].copy(), d.qvel[3:6].copy())

    def close(self) -> None:
        pass
