"""The quadrotor rigid body in PyBullet, from the same :class:`robot_rl.contract.quad.QuadParams`: a multibody with
the config's mass and principal inertia and no collision shape, damping off (PyBullet's default 0.04 would be a
drag the MuJoCo body does not have), one fixed step per call. The wrench comes from
:class:`robot_rl.sim.quad_twin.QuadTwin` in the world frame, as for MuJoCo."""
from __future__ import annotations

import numpy as np

from robot_rl.contract.quad import QuadParams


class BulletQuadBody:
    def __init__(self, p: QuadParams, dt_s: float):
        import pybullet as pb  # (prints its build banner on stderr)

        self.pb = pb
        self.cid = pb.connect(pb.DIRECT)
        pb.setGravity(0, 0, -p.gravity_m_per_s2, physicsClientId=self.cid)
        pb.setPhysicsEngineParameter(fixedTimeStep=dt_s, numSubSteps=0, physicsClientId=self.cid)
        self.body = pb.createMultiBody(baseMass=p.mass_kg, baseCollisionShapeIndex=-1, baseVisualShapeIndex=-1,
                                       basePosition=[0, 0, 1], physicsClientId=self.cid)
        pb.changeDynamics(self.body, -1, linearDamping=0.0, angularDamping=0.0, physicsClientId=self.cid)

    def set_mass(self, mass_kg: float, inertia_kg_m2) -> None:
        self.pb.changeDynamics(self.body, -1, mass=mass_kg, localInertiaDiagonal=list(inertia_kg_m2),
                               physicsClientId=self.cid)

    def reset(self, pos, quat, linvel, angvel_body) -> None:
        pb, q = self.pb, quat / np.linalg.norm(quat)
        pb.resetBasePositionAndOrientation(self.body, list(pos), [q[1], q[2], q[3], q[0]], physicsClientId=self.cid)
        from robot_rl.contract.rotations import quat_to_mat

        w_world = quat_to_mat(q) @ angvel_body
        pb.resetBaseVelocity(self.body, list(linvel), list(w_world), physicsClientId=self.cid)
        self._read()

    def _read(self) -> None:
        pb = self.pb
        pos, q = pb.getBasePositionAndOrientation(self.body, physicsClientId=self.cid)
        v, w = pb.getBaseVelocity(self.body, physicsClientId=self.cid)
        self._pos, self._quat = np.array(pos), np.array([q[3], q[0], q[1], q[2]])
        self._v, self._w = np.array(v), np.array(w)

    def quat(self) -> np.ndarray:
        return self._quat

    def step(self, force_world, torque_world) -> None:
        pb = self.pb
        pb.applyExternalForce(self.body, -1, list(force_world), list(self._pos), pb.WORLD_FRAME, physicsClientId=self.cid)
        pb.applyExternalTorque(self.body, -1, list(torque_world), pb.WORLD_FRAME, physicsClientId=self.cid)
        pb.stepSimulation(physicsClientId=self.cid)
        self._read()

    def state(self):
        from robot_rl.contract.rotations import quat_to_mat
        from robot_rl.contract.quad import QuadState

        return QuadState(self._pos.copy(), self._quat.copy(), self._v.copy(), quat_to_mat(self._quat).T @ self._w)

    def close(self) -> None:
        if self.cid is not None:
            self.pb.disconnect(physicsClientId=self.cid)
            self.cid = None
