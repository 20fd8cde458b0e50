import numpy as np

from robot_rl.learning.reward_classifier import ClassifierConfig, ClassifierReward, RewardClassifier, select_threshold


def test_threshold_is_the_lowest_score_meeting_the_held_out_precision():
    scores = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.1])
    labels = np.array([1, 1, 0, 1, 1, 0, 0, 0])
    # precision at >= 0.9: 2/2; >= 0.8: 2/3; >= 0.7: 3/4; >= 0.6: 4/5; >= 0.5: 4/6
    assert select_threshold(scores, labels, 1.0) == 0.9
    assert select_threshold(scores, labels, 0.75) == 0.6
    assert select_threshold(scores, labels, 0.8) == 0.6
    assert select_threshold(scores, labels, 0.55) == 0.4  # 4/7
    assert select_threshold(scores, labels, 0.5) == 0.1  # 4/8
    assert select_threshold(scores, labels, 0.0) == 0.1


def test_threshold_never_fires_when_precision_is_unreachable():
    scores = np.array([0.9, 0.8, 0.7])
    labels = np.array([0, 0, 1])
    t = select_threshold(scores, labels, 0.9)
    assert t > scores.max()


def test_tied_scores_are_all_predicted_together():
    scores = np.array([0.9, 0.5, 0.5, 0.1])
    labels = np.array([1, 1, 0, 0])
    assert select_threshold(scores, labels, 0.9) == 0.9  # taking 0.5 would include the negative tie


def test_classifier_learns_a_success_region_and_rewards_through_the_wrapper():
    rng = np.random.default_rng(0)
    n = 600
    states = rng.normal(size=(n, 4)).astype(np.float32)
    labels = (states[:, 2] > 0.8).astype(np.float32)  # "cube lifted": one feature above a height
    clf = RewardClassifier(4, ClassifierConfig(epochs=30, hidden_width=32, min_precision=0.95))
    info = clf.fit({"state": states}, labels)
    assert info["held_out_precision"] >= 0.95 and info["held_out_recall"] > 0.5
    assert clf.is_success({"state": np.array([0, 0, 2.5, 0], np.float32)})
    assert not clf.is_success({"state": np.array([0, 0, -1.0, 0], np.float32)})

    import gymnasium as gym

    class Lift(gym.Env):
        observation_space = gym.spaces.Dict({"state": gym.spaces.Box(-10, 10, (4,), np.float32)})
        action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

        def reset(self, *, seed=None, options=None):
            self.h = -1.0
            return {"state": np.array([0, 0, self.h, 0], np.float32)}, {}

        def step(self, a):
            self.h += 1.0
            return {"state": np.array([0, 0, self.h, 0], np.float32)}, 0.0, False, False, {"success": self.h > 0.8}

    env = ClassifierReward(Lift(), clf)
    env.reset()
    rewards, done = [], False
    while not done:
        _, r, term, trunc, info = env.step(np.zeros(1))
        rewards.append(r)
        done = term or trunc
    assert rewards[-1] == 1.0 and rewards[0] == 0.0 and info["task_success"]
