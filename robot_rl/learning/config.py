"""The one config tree of the learner (typed dataclasses with units and ranges, :func:`robot_rl.contract.params.param`).

- :class:`SACConfig` (networks and losses), :class:`EncoderConfig` (pixels), :class:`ReplayConfig` (buffers and
  the online/prior mix) and the update schedule make up :class:`AlgoConfig`: everything the algorithm (and the
  policy an actor builds from the weights) needs. It travels inside every weights payload.
- :class:`TrainConfig` (``robot-rl train``, in-process) and :class:`robot_rl.runtime.learner_core.LearnerConfig`
  (the ROS learner) *are* an :class:`AlgoConfig` plus their own run fields, so the defaults are the same
  everywhere; ``robot-rl train`` flags and the learner node's ROS parameters are generated from the fields.
- :data:`PRESETS` are named overrides: ``sparse_manipulation`` (the defaults: sparse 0/1 rewards at 10 Hz with
  demos; 2 critics and a behaviour-cloning term on the demo rows, the learner ablation's choice), ``rlpd`` (RLPD's
  10 critics without it, the defaults before), ``dense_control`` (Stable-Baselines3 SAC's defaults, no demos, for
  dense-reward control) and
  ``quad_hover`` (dense_control for the quadrotor tasks: dense reward, discount 0.98, longer random warm-up);
  ``hil_serl``, ``sac2_min`` and ``crossq`` are the learner ablation's configurations (see each entry; none has the
  BC term).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from robot_rl.contract.params import ParameterError, build, from_dict, param, to_flat  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class EncoderConfig:
    """Pixel encoder shared by actor and critics (DrQ-style conv trunk per camera + proprio fusion)."""

    channels: int = param(32, ge=1, doc="conv channels per layer")
    conv_layers: int = param(4, ge=1, doc="conv layers per camera")
    stride_first_layers: int = param(2, ge=0, doc="leading conv layers with stride 2 (the rest stride 1)")
    feature_dim_per_camera: int = param(50, ge=1, doc="features per camera after linear + LayerNorm + tanh")
    augment_pad_px: int = param(4, ge=0, doc="DrQ random shift: replicate-pad then crop back [px]")
    pretrained_weights_path: str | None = param(None, doc="local safetensors of the conv trunk(s); never downloaded")
    freeze_pretrained: bool = param(True, doc="freeze pretrained conv trunks")
    # a frozen encoder's features of a stored frame never change: SAC.update_block has the replay compute them once
    # per frame (when it enters the buffer, before it is next sampled) and the updates read them, not the images
    frozen: bool = param(False, doc="freeze the whole encoder (conv trunks + projections) at its initial weights "
                                    "(seeded random, or pretrained_weights_path); no encoder gradient")
    feature_cache: bool = param(False, doc="updates read each stored frame's frozen-encoder features, computed once "
                                           "per frame, not the images (needs frozen, or a pretrained trunk with "
                                           "freeze_pretrained: then the trunk output is cached and the projections "
                                           "train); turns DrQ's augmentation off; the policy still encodes images")
    feature_cache_dtype: str = param("float16", choices=("float16", "float32"),
                                     doc="storage dtype of the cached features in the replay")


@dataclass(frozen=True)
class SACConfig:
    """SAC with RLPD's recipe: critic ensemble + LayerNorm, REDQ min over a random subset, auto entropy."""

    # 128: what `robot-rl train --task pick_cube` has always run with (the README's figures); dense_control: 256
    hidden_width: int = param(128, ge=1, doc="hidden units per layer of actor and critics")
    hidden_layers: int = param(2, ge=1, doc="hidden layers of actor and critics")
    # 2 critics with LayerNorm (HIL-SERL) + bc_weight 1: the learner ablation's choice (README, issue 16); RLPD's 10
    # critics are the preset `rlpd`
    num_critics: int = param(2, ge=1, doc="critic ensemble size")
    critic_subset_size: int = param(2, ge=1, doc="REDQ: target = min over this many random target critics")
    critic_layer_norm: bool = param(True, doc="LayerNorm after every critic hidden layer (RLPD)")
    actor_q_reduction: str = param("mean", choices=("mean", "min", "subset_mean"),
                                   doc="actor loss over the critics: mean of all (RLPD/REDQ), min (SAC, SB3) or "
                                       "subset_mean (mean of actor_critic_subset_size critics drawn per update)")
    actor_critic_subset_size: int = param(2, ge=1, doc="subset_mean: critics drawn at random (without replacement; "
                                                       "at most num_critics) for each actor update")
    # CrossQ (Bhatt et al., ICLR 2024): no target critics; batch renormalisation (Ioffe 2017) before every critic
    # linear layer; (x, a) and (x', a') in ONE critic forward so they share the batch statistics; UTD 1
    crossq: bool = param(False, doc="CrossQ: no target critics, batch renorm in the critics, joint forward")
    batch_renorm_momentum: float = param(0.01, gt=0.0, le=1.0, doc="CrossQ: running statistics <- (1 - m) + m batch")
    batch_renorm_warmup_updates: int = param(100_000, ge=0, doc="CrossQ: critic updates of plain batch norm (r=1, "
                                                                "d=0) before renormalising to the running statistics")
    # a behaviour-cloning term on the prior rows of each batch (demos + interventions), as TD3+BC (Fujimoto & Gu,
    # NeurIPS 2021) adds to the actor loss: L_pi += bc_weight * mean_prior ||a_pi(x) - a_prior||^2 (arm dims)
    bc_weight: float = param(1.0, ge=0.0, doc="actor loss + this * squared error of the actor's sampled action to "
                                              "the prior (demo/intervention) action; 0: off (RLPD, SERL)")
    discount: float = param(0.97, gt=0.0, le=1.0, doc="per env step; 0.97 is SERL's for 10 Hz manipulation")
    polyak_tau: float = param(0.005, gt=0.0, le=1.0, doc="target <- (1 - tau) target + tau online per update")
    actor_lr: float = param(3e-4, gt=0.0, doc="Adam learning rate of the actor")
    critic_lr: float = param(3e-4, gt=0.0, doc="Adam learning rate of critics (+ encoder, gripper critic)")
    temperature_lr: float = param(3e-4, gt=0.0, doc="Adam learning rate of log alpha")
    initial_temperature: float = param(0.01, gt=0.0, doc="alpha at start; small for sparse 0/1 rewards (SERL)")
    target_entropy_per_action_dim: float = param(-0.5, doc="target entropy = this * continuous action dims")
    log_std_min: float = param(-5.0, doc="actor log std lower bound")
    log_std_max: float = param(2.0, doc="actor log std upper bound")
    backup_entropy: bool = param(False, doc="subtract alpha log pi in the target (SERL drops it for sparse rewards)")
    # hybrid action (HIL-SERL): continuous arm + discrete gripper {close, stay, open} with a double-DQN critic
    discrete_gripper: bool = param(False, doc="hybrid action: last action entry is a close/stay/open index")
    gripper_change_penalty: float = param(0.0, ge=0.0, doc="reward penalty whenever the gripper command changes")
    gripper_epsilon: float = param(0.1, ge=0.0, le=1.0, doc="epsilon-greedy of the gripper head while collecting")


@dataclass(frozen=True)
class ReplayConfig:
    capacity_transitions: int = param(1_000_000, ge=1, doc="most transitions per buffer")
    # frames (observations) stored once: next_obs of a transition is the obs of the next one; the frame ring
    # holds capacity + this fraction extra for the first observation of each episode
    extra_frame_fraction: float = param(0.1, gt=0.0, le=1.0, doc="extra frame slots (episode starts)")
    online_fraction: float = param(0.5, ge=0.0, le=1.0, doc="RLPD symmetric sampling: online share of a batch")


@dataclass(frozen=True)
class AlgoConfig:
    """The algorithm (SAC/RLPD) and its update-to-data schedule; the part a weights payload carries."""

    batch_size: int = param(256, ge=1, doc="transitions per gradient update")
    utd_ratio: int = param(2, ge=1, doc="gradient updates per env step; the last of each group updates the actor")
    actor_update_every: int = param(1, ge=1, doc="the actor + temperature update on every k-th UTD group only: "
                                                 "critic-to-actor update ratio = utd_ratio * k")
    start_training_after_steps: int = param(500, ge=1, doc="online env steps before the first update")
    device: str = param("auto", doc="auto (cuda when available) | cpu | cuda[:i]")
    compile: bool = param(False, doc="torch.compile the loss computation (if the compiler fails: a warning, "
                                        "then eager)")
    amp: bool = param(False, doc="bfloat16 autocast for the networks (CUDA)")
    sac: SACConfig = field(default_factory=SACConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)


@dataclass(frozen=True)
class TrainConfig(AlgoConfig):
    """``robot-rl train``: one in-process run on a registered source (``task``) or a gymnasium id (``env``)."""

    env: str = param("", doc="gymnasium env id (e.g. Pendulum-v1); empty: the registered source `task`")
    task: str = param("pick_cube", doc="registered env source (the twin tasks: reach, pick_cube, peg_insert)")
    reward: str = param("sparse", choices=("sparse", "dense"), doc="twin tasks: reward shape")
    seed: int = param(0, ge=0, doc="seeds torch, numpy and the env episodes")
    total_env_steps: int = param(15_000, ge=1, doc="env steps of the run")
    num_demos: int = param(20, ge=0, doc="scripted-expert demo episodes into the prior buffer (0: none)")
    demo_noise_std: float = param(0.1, ge=0.0, doc="action noise of the scripted expert")
    demo_path: str = param("", doc="demos from a file (record-demos npz or plain transitions npz) instead")
    pixels: bool = param(False, doc="learn from images/<camera> (+ state)")
    cameras: tuple[str, ...] = param(("front", "wrist"), doc="cameras for pixels")
    random_action_steps: int = param(500, ge=0, doc="uniform-random env steps at the start")
    eval_every_env_steps: int = param(1000, ge=1, doc="env steps between evaluations")
    eval_episodes: int = param(10, ge=1, doc="episodes per evaluation")
    checkpoint_every_env_steps: int = param(5000, ge=1, doc="env steps between checkpoints")
    log_every_env_steps: int = param(250, ge=1, doc="env steps between metric logs")
    # a scripted human (the expert) takes over with this probability per policy step, for this many steps;
    # its transitions are interventions (online + prior buffers). 0 disables it.
    intervention_prob_per_step: float = param(0.0, ge=0.0, le=1.0, doc="per-step chance the scripted human takes over")
    intervention_steps: int = param(10, ge=1, doc="steps per scripted takeover")
    rlif: bool = param(False, doc="RLIF: no task reward; rlif_takeover_reward on the policy's step before a "
                                  "human takeover")
    rlif_takeover_reward: float = param(-1.0, doc="RLIF reward on the policy step that made the human take over")
    preset: str = param("sparse_manipulation", doc="the named preset this config started from (recorded)")


def algo_of(cfg) -> AlgoConfig:
    """The :class:`AlgoConfig` part of a (derived) config."""
    return AlgoConfig(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(AlgoConfig)})


# ---- presets: named dotted overrides of the defaults ---------------------------------------------------------
_DENSE_CONTROL = {  # see PRESETS["dense_control"]
    "sac.discount": 0.99, "sac.num_critics": 2, "sac.critic_subset_size": 2, "sac.critic_layer_norm": False,
    "sac.initial_temperature": 1.0, "sac.backup_entropy": True, "sac.target_entropy_per_action_dim": -1.0,
    "sac.actor_lr": 3e-4, "sac.critic_lr": 3e-4, "sac.temperature_lr": 3e-4, "sac.hidden_width": 256,
    "sac.hidden_layers": 2, "sac.log_std_min": -20.0, "sac.log_std_max": 2.0, "batch_size": 256, "utd_ratio": 1,
    "start_training_after_steps": 100, "random_action_steps": 100, "num_demos": 0, "sac.bc_weight": 0.0,
}
PRESETS: dict[str, dict] = {
    # the defaults: sparse 0/1 rewards, 10 Hz episodes, scripted demos; 2 critics + LayerNorm with the actor on their
    # mean and a behaviour-cloning term on the demo rows (bc_weight 1), chosen by `robot-rl bench learner-ablation`
    "sparse_manipulation": {},
    # RLPD (Ball et al. 2023) as SERL runs it, the defaults before the ablation: 10 critics, min over 2, no BC term
    "rlpd": {"sac.num_critics": 10, "sac.critic_subset_size": 2, "sac.bc_weight": 0.0},
    # Stable-Baselines3 SAC's defaults (stable_baselines3/sac/sac.py: gamma 0.99, 2 critics without LayerNorm,
    # ent_coef "auto" from 1.0, target entropy -dim(A), soft-Q target with entropy, train_freq 1 / gradient_steps
    # 1, learning_rate 3e-4, batch 256, net_arch [256, 256], learning_starts 100, log std clipped to [-20, 2];
    # SB3 scores the actor on the min of its two critics: sac.actor_q_reduction=min; not the preset yet, see README)
    "dense_control": _DENSE_CONTROL,
    # the quadrotor tasks from scratch (dense reward, no demos): dense_control's SAC, smaller and cheaper (64-wide
    # networks, batch 128: on a shared 2-core CPU an update of the 256-wide ones costs ~70 ms), a 0.95 discount
    # (5 s episodes at 10 Hz), a small initial temperature, 500 random steps first, evaluated every 1000 env steps
    "quad_hover": {**_DENSE_CONTROL, "sac.discount": 0.95, "sac.hidden_width": 64, "batch_size": 128,
                   "sac.initial_temperature": 0.02,  # rewards are in (0, 1] per step: alpha 1 would drown them
                   "start_training_after_steps": 500, "random_action_steps": 500, "reward": "dense",
                   "task": "quad_hover", "total_env_steps": 12_000, "eval_every_env_steps": 1000,
                   "eval_episodes": 10, "checkpoint_every_env_steps": 5000},
    # the learner ablation's configurations (`robot-rl bench learner-ablation`), each the defaults plus:
    # HIL-SERL's real-robot default: 2 critics with LayerNorm, the actor on their mean
    "hil_serl": {"sac.num_critics": 2, "sac.critic_subset_size": 2, "sac.bc_weight": 0.0},
    # 2 critics with LayerNorm, target and actor on their min (clipped double Q as SAC / SB3 score the actor)
    "sac2_min": {"sac.num_critics": 2, "sac.critic_subset_size": 2, "sac.actor_q_reduction": "min",
                 "sac.bc_weight": 0.0},
    # CrossQ (Bhatt et al. 2024): 2 critics with batch renorm instead of LayerNorm, no target critics, UTD 1,
    # the actor on their min and updated every 3rd critic update (the paper's policy delay)
    "crossq": {"sac.crossq": True, "sac.num_critics": 2, "sac.critic_subset_size": 2, "sac.critic_layer_norm": False,
               "sac.actor_q_reduction": "min", "utd_ratio": 1, "actor_update_every": 3, "sac.bc_weight": 0.0},
}


def preset(cls, name: str, overrides: dict | None = None, where: str = ""):
    """``cls`` built from preset ``name`` then ``overrides`` (dotted names); keys a class lacks are skipped.
    Raises :class:`ParameterError` (one line) for an unknown preset or a bad value."""
    if name not in PRESETS:
        raise ParameterError(f"{where}unknown preset {name!r} (known: {', '.join(PRESETS)})")
    from robot_rl.contract.params import flat_fields

    known = {f.name for f in flat_fields(cls)}
    values = {k: v for k, v in PRESETS[name].items() if k in known}
    if "preset" in known:
        values["preset"] = name
    values.update(overrides or {})
    return build(cls, values, where=where)
