"""Quad twin node: the quadrotor twin (:class:`robot_rl.sim.cf_twin.CfTwinLink`: the peer's vehicle in-process,
behind the same setpoint guard as the driver) behind the Crazyflie node's contract
(:mod:`robot_rl.contract.quad_ros_node`), so an actor cannot tell it from the hardware. Per robot namespace (default
``cf``). Parameters: :class:`~robot_rl.sim.cf_twin.CfTwinConfig` (a bad one: one line, exit 2). Ctrl-C / SIGTERM:
a flying twin lands first."""
from __future__ import annotations

import sys

from robot_rl.contract import ros_node as rn
from robot_rl.contract.quad_ros_node import QuadContractNode
from robot_rl.sim.cf_twin import CfTwinConfig, CfTwinLink


def make_node() -> QuadContractNode:
    return QuadContractNode("quad_twin", CfTwinConfig,
                            lambda cfg, on_state, on_event: CfTwinLink(cfg, on_state=on_state, on_event=on_event))


def main(args=None) -> int:
    return rn.run_node(make_node, "quad_twin_node", args, on_exit=QuadContractNode.shut_down, errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
