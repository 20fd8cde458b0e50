"""The contract every folder shares (numpy only): rotations, per-robot I/O layouts, topic names and QoS, typed
parameters. Installed as ``robot_rl.contract``."""

# The contract's revision. It goes up whenever a state or action layout changes what a number means, not only its
# size: a checkpoint records the revision it was trained against, and one from another revision is refused (its
# policy would act on observations it reads differently), instead of loading because the shapes still match.
REVISION = 2
REVISION_HISTORY: dict[int, str] = {
    1: "the layouts before checkpoints recorded a revision",
    2: "the arm state's quaternion on the tool-down hemisphere, continuous at tool-down (w >= 0 before, 2026-12-01)",
}
