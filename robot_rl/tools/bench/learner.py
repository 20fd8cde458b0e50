"""``robot-rl bench learner``: full SAC updates/s (critic + actor + temperature + targets, batch sampled from
replay on the learner's device) for our state config (the learner's default: ``SACConfig``'s critics and width)
and the 2-camera pixel config, and
Stable-Baselines3's SAC (2 critics, same width and batch) in the same run. Ours and SB3 are timed in
alternation and the medians compared (``ratio_vs_sb3``), so machine load hits both alike.

The arithmetic of one update is counted too (``torch.utils.flop_counter`` on one eager update of each, same
batch and width): ``flop_ratio_sb3_over_ours`` is the ratio a compute-bound machine allows, and
``efficiency_vs_sb3`` = ``ratio_vs_sb3 / flop_ratio_sb3_over_ours`` says how our achieved FLOP rate compares with
SB3's (1.0: the same; above 1: we waste less on Python and small kernels).

Pixels (2 cameras of 128x128, same critics and width): ``pixel_updates_per_s`` is today's trainable encoder with
DrQ's augmentation; ``pixel_updates_per_s_frozen`` the encoder frozen (``encoder.frozen``), still encoding the
sampled images at every update; ``pixel_updates_per_s_cached`` frozen with ``encoder.feature_cache`` (each stored
frame encoded once). Each pixel update is preceded by one new transition into the online buffer, as in training
(one env step per ``update_block``; the cached run encodes that frame inside the block), all timed in
alternation. ``pixel_cache_speedup`` = cached / trainable, and ``pixel_cached_meets_control_rate`` compares the
cached rate with ``control_rate_hz`` (10 Hz) x ``utd_ratio`` (the learner's default) updates/s. Rates are per wall
second (the machine's load included) and, ``pixel_updates_per_cpu_s*``, per process-CPU second spent in
``update_block`` (``SAC.update_cpu_s``: what one free core sustains; ``--threads 1`` makes the two the same on an
idle machine).

``seconds_to_90pct`` (``--skill-seeds N``, 1 by default, 0 skips it): the learner's CPU-seconds until 90 % eval
success on ``pick_cube`` from state with 20 demos, our default learner against SB3's SAC given the same demos
(:mod:`robot_rl.tools.bench.skill_time`, also ``robot-rl bench skill-time``)."""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

STATE_DIM, ACTION_DIM = 26, 7  # pick_cube's state and action sizes
CONTROL_RATE_HZ = 10.0  # the twin tasks' and the real arm's control rate: env steps per second
PRIOR_TRANSITIONS, ONLINE_TRANSITIONS = 2_000, 5_000


def _fill(buffer, n: int, rng: np.random.Generator) -> None:
    obs = {k: _rand(shape, dtype, rng) for k, (shape, dtype) in buffer.obs_spec.items()}
    for i in range(n):
        nxt = {k: _rand(shape, dtype, rng) for k, (shape, dtype) in buffer.obs_spec.items()}
        buffer.add(obs, rng.uniform(-1, 1, ACTION_DIM), float(rng.random() < 0.05), nxt, False, i % 100 == 99)
        obs = nxt


def _rand(shape, dtype, rng):
    if np.dtype(dtype) == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.normal(size=shape).astype(dtype)


def make_ours(cameras: tuple[str, ...], width: int, critics: int, device, compile: bool = False, amp: bool = False,
              image_size_px: int = 128, transitions: tuple[int, int] = (ONLINE_TRANSITIONS, PRIOR_TRANSITIONS),
              encoder=None):
    from robot_rl.learning.config import AlgoConfig, EncoderConfig, SACConfig
    from robot_rl.learning.replay import ReplayBuffer
    from robot_rl.learning.sac import SAC

    rng = np.random.default_rng(0)
    spec = {"state": ((STATE_DIM,), np.float32)}
    for c in cameras:
        spec[f"images/{c}"] = ((image_size_px, image_size_px, 3), np.uint8)
    online = ReplayBuffer(spec, ACTION_DIM, transitions[0], device=device)
    prior = ReplayBuffer(spec, ACTION_DIM, transitions[1], device=device)
    _fill(online, transitions[0], rng)
    _fill(prior, transitions[1], rng)
    algo = AlgoConfig(utd_ratio=1, batch_size=256, compile=compile, amp=amp,
                      sac=SACConfig(hidden_width=width, num_critics=critics), encoder=encoder or EncoderConfig())
    agent = SAC(spec, ACTION_DIM, algo, device=device)
    return agent, online, prior


def _one_update_block(agent, online, prior, batch: int):
    """The algorithm's own UTD loop (``update_block``; the agent is built at UTD 1): one full update."""
    from robot_rl.learning.mixer import DataMixer

    return agent.update_block(DataMixer(online, prior, batch, agent.algo_cfg.replay.online_fraction))


def time_ours(agent, online, prior, batch: int, updates: int, feed: np.random.Generator | None = None) -> float:
    """Updates/s of ``updates`` update blocks; ``feed``: one new random transition into ``online`` before each."""
    if agent.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(updates):
        if feed is not None:
            _fill(online, 1, feed)
        m = _one_update_block(agent, online, prior, batch)
    m["critic_loss"].item()  # wait for the last update
    return updates / (time.perf_counter() - t0)


def make_sb3(width: int, batch: int, device):
    import gymnasium as gym
    from stable_baselines3 import SAC
    from stable_baselines3.common.logger import configure

    class _Spaces(gym.Env):  # only the spaces matter: the replay is filled directly
        observation_space = gym.spaces.Box(-np.inf, np.inf, (STATE_DIM,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)

        def reset(self, *, seed=None, options=None):
            return np.zeros(STATE_DIM, np.float32), {}

        def step(self, action):
            return np.zeros(STATE_DIM, np.float32), 0.0, False, False, {}

    model = SAC("MlpPolicy", _Spaces(), batch_size=batch, policy_kwargs={"net_arch": [width, width]},
                learning_starts=0, buffer_size=ONLINE_TRANSITIONS + PRIOR_TRANSITIONS, device=device, seed=0)
    model.set_logger(configure(None, []))
    rng = np.random.default_rng(0)
    for _ in range(ONLINE_TRANSITIONS + PRIOR_TRANSITIONS):
        model.replay_buffer.add(rng.normal(size=(1, STATE_DIM)).astype(np.float32),
                                rng.normal(size=(1, STATE_DIM)).astype(np.float32),
                                rng.uniform(-1, 1, (1, ACTION_DIM)).astype(np.float32),
                                np.array([float(rng.random() < 0.05)]), np.zeros(1), [{}])
    return model


def time_sb3(model, batch: int, updates: int) -> float:
    t0 = time.perf_counter()
    model.train(gradient_steps=updates, batch_size=batch)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return updates / (time.perf_counter() - t0)


def update_flops(step) -> int:
    """Floating-point operations of one call of ``step()`` (matmuls, convolutions and their gradients)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def count_flops(batch: int, width: int, critics: int, dev, cameras: tuple[str, ...] = ()) -> tuple[int, int]:
    """(ours, SB3) FLOPs per full update, counted on eager copies (a compiled graph hides its ops)."""
    agent, online, prior = make_ours(cameras, width, critics, dev, transitions=(2 * batch, batch))
    ours = update_flops(lambda: _one_update_block(agent, online, prior, batch))
    sb3 = make_sb3(width, batch, dev)
    theirs = update_flops(lambda: sb3.train(gradient_steps=1, batch_size=batch))
    return ours, theirs


def run(batch: int = 256, width: int | None = None, critics: int | None = None, updates: int = 100,
        pixel_updates: int = 5, repeats: int = 5, device: str = "auto", compile: bool = True, pixels: bool = True,
        amp: bool = True) -> dict:
    from robot_rl.learning.config import SACConfig
    from robot_rl.learning.sac import pick_device

    default = SACConfig()  # the learner's
    width = default.hidden_width if width is None else width
    critics = default.num_critics if critics is None else critics
    dev = pick_device(device)
    torch.manual_seed(0)
    agent, online, prior = make_ours((), width, critics, dev, compile=compile)
    sb3 = make_sb3(width, batch, dev)
    agent_amp = make_ours((), width, critics, dev, compile=compile, amp=True)[0] if amp else None
    time_ours(agent, online, prior, batch, max(5, updates // 10))  # warm-up (and compilation)
    if agent_amp is not None:
        time_ours(agent_amp, online, prior, batch, max(5, updates // 10))
    time_sb3(sb3, batch, max(5, updates // 10))
    ours, ours_amp, theirs = [], [], []
    for _ in range(repeats):  # alternate so that load on the machine affects all alike
        ours.append(time_ours(agent, online, prior, batch, updates))
        theirs.append(time_sb3(sb3, batch, updates))
        if agent_amp is not None:
            ours_amp.append(time_ours(agent_amp, online, prior, batch, updates))
    result = {
        "bench": "learner",
        "device": str(dev),
        "torch_threads": torch.get_num_threads(),
        "batch_size": batch,
        "hidden_width": width,
        "state_num_critics": critics,
        "sb3_num_critics": 2,
        "compile": compile,
        "compiled": agent.compiled,  # False: the compiler failed on this torch build and the losses ran eagerly
        "repeats": repeats,
        "updates_per_repeat": updates,
        "state_updates_per_s": statistics.median(ours),
        "sb3_updates_per_s": statistics.median(theirs),
        "ratio_vs_sb3": statistics.median(ours) / statistics.median(theirs),
        "ratio_vs_sb3_per_repeat": [round(a / b, 3) for a, b in zip(ours, theirs)],
    }
    flops_ours, flops_sb3 = count_flops(batch, width, critics, dev)
    flop_ratio = flops_sb3 / flops_ours
    result.update(
        gflop_per_update_ours=round(flops_ours / 1e9, 4), gflop_per_update_sb3=round(flops_sb3 / 1e9, 4),
        flop_ratio_sb3_over_ours=round(flop_ratio, 4),
        achieved_gflops_ours=round(flops_ours * statistics.median(ours) / 1e9, 1),
        achieved_gflops_sb3=round(flops_sb3 * statistics.median(theirs) / 1e9, 1),
        efficiency_vs_sb3=round(result["ratio_vs_sb3"] / flop_ratio, 3))
    if ours_amp:  # bfloat16 autocast (master weights and losses in float32); SB3 stays float32
        result.update(state_updates_per_s_amp_bf16=statistics.median(ours_amp),
                      ratio_vs_sb3_amp_bf16=statistics.median(ours_amp) / statistics.median(theirs),
                      ratio_vs_sb3_amp_bf16_per_repeat=[round(a / b, 3) for a, b in zip(ours_amp, theirs)])
    if pixels:
        result.update(pixel_bench(width, critics, batch, pixel_updates, max(1, repeats // 2), dev))
    return result


def pixel_bench(width: int, critics: int, batch: int, updates: int, repeats: int, dev) -> dict:
    """Pixel updates/s (2 cameras, 128x128): trainable encoder (today's default), frozen, frozen + feature cache."""
    from robot_rl.learning.config import AlgoConfig, EncoderConfig

    cams = ("front", "wrist")
    variants = {"trainable": EncoderConfig(), "frozen": EncoderConfig(frozen=True),
                "cached": EncoderConfig(frozen=True, feature_cache=True)}
    runs = {}
    for name, enc in variants.items():
        torch.manual_seed(0)
        runs[name] = make_ours(cams, width, critics, dev, transitions=(1_000, 500), encoder=enc)
        time_ours(*runs[name], batch, 1)  # warm-up (the cached one: computes the buffers' 1 500 frames' features)
    feed = np.random.default_rng(1)
    rates: dict[str, list[float]] = {k: [] for k in runs}
    cpu0 = {k: (a.update_cpu_s, a.update_blocks) for k, (a, _, _) in runs.items()}
    for _ in range(repeats):  # alternate so that load on the machine affects all alike
        for name, (agent, online, prior) in runs.items():
            n = updates if name != "cached" else updates * 20  # the cached update is ~100x cheaper: time enough
            rates[name].append(time_ours(agent, online, prior, batch, n, feed=feed))
    med = {k: statistics.median(v) for k, v in rates.items()}
    # per process-CPU second inside update_block (SAC.update_cpu_s; the new frame's encoding included, the random
    # transition's generation not): what one core of the robot's computer sustains, whatever else loads this one
    per_cpu = {k: (a.update_blocks - cpu0[k][1]) / max(a.update_cpu_s - cpu0[k][0], 1e-9)
               for k, (a, _, _) in runs.items()}
    need = CONTROL_RATE_HZ * AlgoConfig().utd_ratio
    agent = runs["cached"][0]
    return {
        "pixel_cameras": list(cams), "pixel_image_px": 128,
        "pixel_updates_per_s": med["trainable"],
        "pixel_updates_per_s_frozen": med["frozen"],
        "pixel_updates_per_s_cached": med["cached"],
        "pixel_cache_speedup": med["cached"] / med["trainable"],
        "pixel_cache_speedup_per_repeat": [round(c / t, 2) for c, t in zip(rates["cached"], rates["trainable"])],
        "pixel_feature_cache_dtype": agent.encoder_cfg.feature_cache_dtype,
        "pixel_cache_level": agent.encoder.cache_level(),
        "control_rate_hz": CONTROL_RATE_HZ, "utd_ratio": AlgoConfig().utd_ratio,
        "pixel_updates_per_s_needed": need,
        "pixel_updates_per_cpu_s": per_cpu["trainable"], "pixel_updates_per_cpu_s_frozen": per_cpu["frozen"],
        "pixel_updates_per_cpu_s_cached": per_cpu["cached"],
        "pixel_cached_meets_control_rate": med["cached"] >= need,
        "pixel_cached_meets_control_rate_per_cpu_s": per_cpu["cached"] >= need,
        "pixel_uncached_meets_control_rate": med["trainable"] >= need,
    }


def add_parser(sub) -> None:
    p = sub.add_parser("learner", help="SAC updates/s: ours (the learner's default critics; state and 2-camera "
                                       "pixels, the latter with and without the frozen-encoder feature cache) vs SB3 "
                                       "SAC (key ratio_vs_sb3)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--width", type=int, default=None,
                   help="hidden width of every MLP, ours and SB3 (default: the learner's, sac.hidden_width)")
    p.add_argument("--critics", type=int, default=None,
                   help="our critic ensemble size (default: the learner's, sac.num_critics; SB3 has 2)")
    p.add_argument("--updates", type=int, default=100, help="updates per timed repeat (state configs)")
    p.add_argument("--pixel-updates", type=int, default=5,
                   help="updates per timed repeat (pixel configs; the feature-cached one times 20x as many)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-compile", dest="compile", action="store_false",
                   help="eager mode (default: torch.compile our loss computation; compilation time is excluded)")
    p.add_argument("--no-amp", action="store_true", help="skip the bfloat16-autocast variant of our state config")
    p.add_argument("--no-pixels", action="store_true",
                   help="skip the 2-camera pixel configs (trainable encoder, frozen, frozen + feature cache)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--skill-seeds", type=int, default=1,
                   help="seeds of the compute-to-a-skill comparison under seconds_to_90pct (robot-rl bench "
                        "skill-time: learner CPU-s to 90 %% on pick_cube, our default vs SB3 with the same demos; "
                        "minutes per seed); 0 skips it")
    p.add_argument("--skill-sb3-steps", type=int, default=10_000, help="SB3's env-step budget per skill seed")
    p.add_argument("--skill-out", default="runs/bench/skill_time", help="the skill runs' folder (reused)")
    p.add_argument("--json", action="store_true")

    def _go(a):
        from robot_rl.tools.bench.cli import emit

        if a.threads:
            torch.set_num_threads(a.threads)
        res = run(a.batch, a.width, a.critics, a.updates, a.pixel_updates, a.repeats, a.device, a.compile,
                  not a.no_pixels, not a.no_amp)
        if a.skill_seeds > 0:
            from robot_rl.tools.bench import skill_time

            res["seconds_to_90pct"] = skill_time.run(seeds=tuple(range(a.skill_seeds)), sb3_steps=a.skill_sb3_steps,
                                                     out=a.skill_out)
        return emit(res, a.json)

    p.set_defaults(func=_go)
