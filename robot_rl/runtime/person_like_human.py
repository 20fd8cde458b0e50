"""A scripted human whose takeovers look like a person's: **late**, **partial** and **sometimes wrong**.

It watches what the twin node publishes (the TCP pose and ``task/state`` = ``[reward, success, features...]``), judges
from the task's features whether the policy is getting anywhere, and, when it is not, takes over with the task's
privileged scripted expert (``sim/experts.py``; the in-process bench gives it the twin env, so it works for
``reach``, ``pick_cube`` and ``peg_insert``). Its output is teleop in the policy's action units, one action per
policy period, through the same ``observe()`` / ``period()`` / ``reset()`` interface as
:class:`robot_rl.runtime.scripted_human.ScriptedHuman` (so :class:`robot_rl.runtime.intervention.WatcherTakeover`
drives either). Units: a *step* is one policy period (0.1 s at the twin's 10 Hz), distances are metres, noise is
in action units ([-1, 1] per dimension).

- **Strays** (what makes it want to take over): the task's *remaining distance* did not shrink by ``progress_m``
  over the last ``patience_steps`` steps (no progress, or a stall). The remaining distance is read from the task
  features: ``reach``: |goal - tcp|; ``pick_cube``: |cube - tcp| + how far the cube still is below the lift-success
  height (grasping and lifting both count as progress); ``peg_insert``: |tip - (hole top - insert depth)|, the tip
  to the inserted position. Never while the task reports success.
- **Late**: after it notices a stray the policy keeps acting for a reaction delay drawn uniformly from
  ``reaction_delay_steps`` (inclusive) before the takeover starts (it is then committed: the takeover comes even
  if the policy recovered meanwhile, unless the task succeeded or the episode ended).
- **Partial**: each takeover lasts a length drawn uniformly from ``takeover_steps`` (inclusive) and ends then,
  whether or not the expert finished its phase (or the task); it also ends at success. The expert resumes from
  the phase the scene is in (cube already held: lift; peg already in the hole: push in), as a person would not
  restart the task from scratch.
- **Sometimes wrong**: with probability ``wrong_prob`` per takeover, its first part (a fraction drawn uniformly
  from ``wrong_fraction`` of its length, at least one step) is wrong: with probability ``wrong_target_prob`` the
  expert heads for a wrong target (the cube / hole / goal shifted horizontally by ``wrong_offset_m`` in a random
  direction), otherwise it uses a much noisier action (extra Gaussian noise ``wrong_noise_std`` on the arm
  dimensions). The rest of the takeover is the correct expert again (the person notices and corrects).

Every random draw comes from one generator seeded with ``seed`` (the expert's own action noise from a second,
``seed + 1``), so a human is deterministic per seed given the same observations. No rclpy here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from robot_rl.sim.experts import EXPERTS
from robot_rl.sim.tasks import TASKS

PERSON_TASKS = ("reach", "pick_cube", "peg_insert")


@dataclass(frozen=True)
class PersonLikeHumanConfig:
    task: str = "pick_cube"
    noise_std: float = 0.1  # action units: the person's normal hand noise (the expert demos' default)
    patience_steps: int = 10  # policy steps over which progress is judged (1 s at 10 Hz)
    progress_m: float = 0.01  # m: the remaining distance must shrink by at least this over the window
    reaction_delay_steps: tuple[int, int] = (2, 8)  # policy steps from noticing a stray to taking over, uniform
    takeover_steps: tuple[int, int] = (8, 40)  # policy steps per takeover, uniform inclusive
    wrong_prob: float = 0.2  # per takeover: chance its first part is wrong
    wrong_fraction: tuple[float, float] = (0.3, 1.0)  # the wrong part's share of the takeover, uniform
    wrong_target_prob: float = 0.5  # of the wrong takeovers: a wrong target (else a much noisier action)
    wrong_offset_m: float = 0.05  # m: horizontal offset of the wrong target
    wrong_noise_std: float = 0.8  # action units: extra noise of a noisy wrong takeover
    seed: int = 0

    def __post_init__(self):
        if self.task not in PERSON_TASKS:
            raise ValueError(f"person-like human: unknown task {self.task!r} (known: {', '.join(PERSON_TASKS)})")
        for name in ("reaction_delay_steps", "takeover_steps", "wrong_fraction"):
            lo, hi = getattr(self, name)
            if not (0 <= lo <= hi):
                raise ValueError(f"person-like human: {name} must be a range 0 <= lo <= hi, got {(lo, hi)}")
        if self.takeover_steps[0] < 1:
            raise ValueError("person-like human: takeover_steps must be at least 1 step")
        if self.patience_steps < 1:
            raise ValueError("person-like human: patience_steps must be at least 1")
        if self.wrong_fraction[1] > 1.0:
            raise ValueError("person-like human: wrong_fraction must lie in [0, 1]")
        for name in ("wrong_prob", "wrong_target_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"person-like human: {name} must be a probability in [0, 1]")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def remaining_distance(task: str, task_state, cfg=None) -> float:
    """The task's remaining distance (m) from what the twin publishes on ``task/state``: ``[reward, success,
    features...]`` (features: reach goal, goal - tcp; pick_cube cube, cube - tcp; peg_insert hole top, tip - hole)."""
    f = np.asarray(task_state, float)[2:]
    cfg = cfg or TASKS[task].config
    if task == "reach":
        return float(np.linalg.norm(f[3:6]))
    if task == "pick_cube":
        below = max(0.0, cfg.cube_half_size_m + cfg.lift_success_m - f[2])
        return float(np.linalg.norm(f[3:6]) + below)
    if task == "peg_insert":
        return float(np.linalg.norm(f[3:6] + np.array([0.0, 0.0, cfg.insert_success_m])))
    raise ValueError(f"remaining distance: unknown task {task!r} (known: {', '.join(PERSON_TASKS)})")


class _ShiftedTask:
    """The env's task with its target (goal / cube / hole) shifted: what a person who misjudged it aims at."""

    def __init__(self, task, offset: np.ndarray):
        self._task, self._offset = task, offset

    def __getattr__(self, name):
        return getattr(self._task, name)

    def goal(self, model):
        return self._task.goal(model) + self._offset

    def cube_pos(self, data):
        return self._task.cube_pos(data) + self._offset

    def hole_top(self, model):
        return self._task.hole_top(model) + self._offset


class _ShiftedEnv:
    def __init__(self, env, offset: np.ndarray):
        self._env, self.task = env, _ShiftedTask(env.task, offset)

    def __getattr__(self, name):
        return getattr(self._env, name)


def resume_phase(expert, env) -> None:
    """Set a freshly reset expert's phase to where the scene is, so a takeover does not restart the task (pick_cube:
    the cube held off the table -> lift; peg_insert: the tip at or below the hole top and over it -> push in)."""
    task = env.task
    if task.name == "pick_cube":
        tcp, _ = env.twin.ee_pose()
        cube = task.cube_pos(env.data)
        lifted = cube[2] > task.cfg.cube_half_size_m + 0.01 and np.linalg.norm(cube - tcp) < 0.03
        if lifted:
            expert.phase = 3
    elif task.name == "peg_insert":
        d = task.tip(env.data) - task.hole_top(env.model)
        if np.linalg.norm(d[:2]) < 0.003 and d[2] < 0.005:
            expert.phase = 1


class PersonLikeHuman:
    """Watches the robot, takes over late, partially and sometimes wrongly (see the module docstring).

    ``env`` is the twin env the expert acts on (privileged state: the bench's in-process twin). Counters:
    ``takeovers``, ``wrong_takeovers`` (of which ``wrong_target_takeovers``), ``partial_takeovers`` (handed back at
    their drawn length with the task not done), ``human_steps``; the drawn ``delays`` and ``lengths`` (steps) and
    ``events`` (per takeover: the episode's policy-period index at which it noticed the stray and at which it took
    over)."""

    def __init__(self, cfg: PersonLikeHumanConfig, env):
        self.cfg = cfg
        self.env = env.unwrapped if hasattr(env, "unwrapped") else env
        if self.env.task.name != cfg.task:
            raise ValueError(f"person-like human for {cfg.task!r} given an env of task {self.env.task.name!r}")
        self.rng = np.random.default_rng(cfg.seed)
        self.expert_cls = EXPERTS[TASKS[cfg.task].expert]
        self.expert = self.expert_cls(self.env, noise_std=cfg.noise_std, seed=cfg.seed + 1)
        self.takeovers = self.wrong_takeovers = self.wrong_target_takeovers = self.partial_takeovers = 0
        self.human_steps = 0
        self.delays: list[int] = []
        self.lengths: list[int] = []
        self.events: list[tuple[int, int]] = []  # per takeover: (period it noticed the stray, period it took over)
        self.success = False
        self.remaining = None
        self.reset()

    # -- the watcher interface (as ScriptedHuman) -----------------------------------------------------------------
    def observe(self, pos, rot, task_state) -> None:
        """Latest TCP pose (unused beyond the features: kept for the ScriptedHuman interface) and task state."""
        self.success = bool(task_state[1] > 0.5)
        self.remaining = remaining_distance(self.cfg.task, task_state, self.env.task.cfg)

    def period(self) -> np.ndarray | None:
        """Once per policy period: the human's action (7,) while taking over, else None."""
        k = self.steps_seen  # this period's index in the episode
        self.steps_seen += 1
        if self.left > 0:
            return self._drive()
        if self._handed_back:  # the step after a hand-back: was the task done then?
            self.partial_takeovers += int(not self.success)
            self._handed_back = False
        self.history.append(self.remaining)
        if self.success:
            self.countdown = None
            self.history = self.history[-1:]
            return None
        if self.countdown is None and self._strayed():
            lo, hi = self.cfg.reaction_delay_steps
            self.countdown = int(self.rng.integers(lo, hi + 1))
            self.delays.append(self.countdown)
            self.noticed_at = k
        if self.countdown is not None:
            if self.countdown == 0:  # the policy acted for the whole reaction delay: take over now
                self.countdown = None
                self._start(k)
                return self._drive()
            self.countdown -= 1
        self.history = self.history[-(self.cfg.patience_steps + 1):]
        return None

    def reset(self) -> None:
        """At an episode start: nothing noticed, no takeover in progress."""
        self.history: list[float] = []
        self.left = 0
        self.countdown: int | None = None
        self.steps_seen = 0  # policy periods watched this episode (a takeover's steps included)
        self.noticed_at = None
        self._handed_back = False

    # -- internals ------------------------------------------------------------------------------------------------
    def _strayed(self) -> bool:
        p = self.cfg.patience_steps
        return len(self.history) > p and self.history[-p - 1] - self.history[-1] < self.cfg.progress_m

    def _start(self, k: int) -> None:
        c, rng = self.cfg, self.rng
        self.events.append((self.noticed_at, k))
        self.length = int(rng.integers(c.takeover_steps[0], c.takeover_steps[1] + 1))
        self.left = self.length
        self.lengths.append(self.length)
        self.takeovers += 1
        self.wrong_left, self.wrong_mode = 0, None
        if rng.random() < c.wrong_prob:
            self.wrong_takeovers += 1
            frac = rng.uniform(*c.wrong_fraction)
            self.wrong_left = max(1, int(round(frac * self.length)))
            if rng.random() < c.wrong_target_prob:
                self.wrong_mode = "target"
                self.wrong_target_takeovers += 1
                ang = rng.uniform(0.0, 2 * np.pi)
                offset = c.wrong_offset_m * np.array([np.cos(ang), np.sin(ang), 0.0])
                self.wrong_expert = self.expert_cls(_ShiftedEnv(self.env, offset), noise_std=c.noise_std,
                                                    seed=int(rng.integers(2**31)))
                resume_phase(self.wrong_expert, self.env)
            else:
                self.wrong_mode = "noisy"
        self.expert.reset()
        resume_phase(self.expert, self.env)

    def _drive(self) -> np.ndarray:
        self.left -= 1
        self.human_steps += 1
        if self.wrong_left > 0:
            self.wrong_left -= 1
            if self.wrong_mode == "target":
                a = self.wrong_expert.act()
            else:
                a = self.expert.act().astype(float)
                a[:6] += self.rng.normal(0.0, self.cfg.wrong_noise_std, 6)
                a = np.clip(a, -1.0, 1.0).astype(np.float32)
            if self.wrong_left == 0:  # corrects from here: the expert from where the scene is
                self.expert.reset()
                resume_phase(self.expert, self.env)
        else:
            a = self.expert.act()
        if self.left == 0:  # hands back: watches afresh from here
            self.history = [self.remaining]
            self._handed_back = True
        return a

    def stats(self) -> dict:
        lengths, delays = self.lengths, self.delays
        return {"takeovers": self.takeovers, "human_steps": self.human_steps, "wrong_takeovers": self.wrong_takeovers,
                "wrong_target_takeovers": self.wrong_target_takeovers,
                "partial_takeovers": self.partial_takeovers,
                "mean_takeover_steps": float(np.mean(lengths)) if lengths else None,
                "mean_reaction_delay_steps": float(np.mean(delays)) if delays else None}
