"""Crazyflie node: the cflib driver (:mod:`robot_rl.drivers.crazyflie`) behind Crazyswarm2's topic contract
(:mod:`robot_rl.contract.quad_ros_node`: translation only). Per robot namespace (default ``cf``; ``-r __ns:=/cf1``);
``uri`` picks the vehicle (``udp://127.0.0.1:<port>`` reaches the CRTP protocol peer ``robot_rl.sim.cf_peer``).
Parameters: :class:`~robot_rl.drivers.crazyflie.CrazyflieConfig` (a bad one: one line, exit 2); a vehicle that does
not answer: one line, exit 1. Ctrl-C / SIGTERM: a flying vehicle lands first."""
from __future__ import annotations

import sys

from robot_rl.contract import ros_node as rn
from robot_rl.contract.quad_ros_node import QuadContractNode
from robot_rl.drivers.crazyflie import Crazyflie, CrazyflieConfig, CrazyflieError


def make_node() -> QuadContractNode:
    return QuadContractNode("crazyflie", CrazyflieConfig,
                            lambda cfg, on_state, on_event: Crazyflie(cfg, on_state=on_state, on_event=on_event))


def main(args=None) -> int:
    return rn.run_node(make_node, "crazyflie_node", args, on_exit=QuadContractNode.shut_down,
                       errors={ValueError: 2, CrazyflieError: 1})


if __name__ == "__main__":
    sys.exit(main())
