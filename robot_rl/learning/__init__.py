"""The learning core (pure torch, no rclpy), split LeRobot-style:

- ``config``: typed dataclass configs (SAC/RLPD, encoder, replay, training run)
- ``networks``: vectorised critic ensemble, tanh-Gaussian actor, gripper critic, pixel encoder, DrQ shift
- ``sac``: the algorithm, one fused update, readable top to bottom (CleanRL-style)
- ``replay``: frame-sharing ring buffer on the learner's device, 50/50 mixing, intervention routing, RLIF
- ``reward_classifier``: learned success reward with a held-out-precision threshold
- ``checkpoint``: atomic, code-free persistence with checksums (:class:`CheckpointError` on damage)
- ``trainer``: the twin training loop (demos, evaluation, logs, curves, exact resume)
- ``wrappers``: state-only observations, discrete gripper
"""
