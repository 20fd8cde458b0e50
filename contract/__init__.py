"""The contract every folder shares (numpy only): rotations, per-robot I/O layouts, topic names and QoS, typed
parameters. Installed as ``robot_rl.contract``."""
