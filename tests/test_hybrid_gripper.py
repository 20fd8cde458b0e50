import numpy as np
import torch

from robot_rl.learning.config import SACConfig
from robot_rl.learning.networks import GRIPPER_CLOSE, GRIPPER_OPEN, GRIPPER_STAY
from robot_rl.envs.wrappers import DiscreteGripper, to_discrete_gripper


def test_continuous_gripper_commands_map_to_close_stay_open():
    assert to_discrete_gripper(-1.0, 1.0) == GRIPPER_CLOSE
    assert to_discrete_gripper(1.0, 1.0) == GRIPPER_STAY
    assert to_discrete_gripper(1.0, -1.0) == GRIPPER_OPEN
    assert to_discrete_gripper(-1.0, -1.0) == GRIPPER_STAY


def test_discrete_gripper_wrapper_holds_the_command_until_close_or_open():
    import gymnasium as gym

    class Record(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (1,), np.float32)
        action_space = gym.spaces.Box(-1, 1, (7,), np.float32)

        def reset(self, *, seed=None, options=None):
            return np.zeros(1, np.float32), {}

        def step(self, a):
            self.last = a
            return np.zeros(1, np.float32), 0.0, False, False, {}

    env = DiscreteGripper(Record())
    env.reset()
    seen = []
    for g in (GRIPPER_STAY, GRIPPER_CLOSE, GRIPPER_STAY, GRIPPER_STAY, GRIPPER_OPEN, GRIPPER_STAY):
        env.step(np.array([0.1] * 6 + [g], np.float32))
        seen.append(float(env.unwrapped.last[6]))
        np.testing.assert_allclose(env.unwrapped.last[:6], 0.1)
    assert seen == [-1.0, 1.0, 1.0, 1.0, -1.0, -1.0]
    env.reset()
    env.step(np.zeros(7, np.float32) + [0, 0, 0, 0, 0, 0, GRIPPER_STAY])
    assert env.unwrapped.last[6] == -1.0  # reset re-opens


def test_hybrid_training_run_converts_demos_and_acts_with_gripper_indices(tmp_path):
    from robot_rl.learning.config import TrainConfig
    from robot_rl.loops.trainer import Trainer

    torch.set_num_threads(1)
    cfg = TrainConfig(task="pick_cube", total_env_steps=60, num_demos=2, batch_size=16, utd_ratio=1,
                      random_action_steps=20, start_training_after_steps=20, eval_every_env_steps=10**9,
                      eval_episodes=1, sac=SACConfig(hidden_width=32, num_critics=2, discrete_gripper=True,
                                                     gripper_change_penalty=0.05))
    t = Trainer(cfg, tmp_path, progress=False)
    t.run()
    demo_g = t.prior.actions[:len(t.prior), 6]
    assert set(demo_g.unique().tolist()) <= {0.0, 1.0, 2.0}
    assert (demo_g == GRIPPER_CLOSE).sum() >= 2  # every successful demo closes the gripper once
    online_g = t.online.actions[:len(t.online), 6]
    assert set(online_g.unique().tolist()) <= {0.0, 1.0, 2.0}
