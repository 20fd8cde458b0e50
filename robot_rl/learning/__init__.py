"""The learning core (pure torch: imports none of the twin, the drivers, rclpy or mujoco), split LeRobot-style:

- ``config``: the one config tree (SAC, encoder, replay, update schedule = ``AlgoConfig``; ``TrainConfig``) with
  units and ranges, and the named presets (``sparse_manipulation``, ``dense_control``)
- ``networks``: vectorised critic ensemble, tanh-Gaussian actor, gripper critic, pixel encoder, DrQ shift
- ``policy``: what ships to actors (normalisation + encoder + actor [+ gripper head]), rebuilt from a weights
  payload that carries the algorithm config and the observation spec
- ``sac``: the algorithm (critics, targets, temperature, optimiser) and its one update-to-data loop
- ``mixer``: where batches come from (RLPD's online / prior mix)
- ``replay`` / ``flagged_replay``: frame-sharing ring buffers on the learner's device, intervention routing, RLIF
- ``reward_classifier``: learned success reward with a held-out-precision threshold
- ``checkpoint``: atomic, code-free persistence with checksums (:class:`CheckpointError` on damage)

The training loop is :mod:`robot_rl.loops.trainer`; env sources and wrappers are in :mod:`robot_rl.envs`.
"""
