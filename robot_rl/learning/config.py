"""Typed configs of the learner (units / meaning in the names; no magic numbers in the code paths)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EncoderConfig:
    """Pixel encoder shared by actor and critics (DrQ-style conv trunk per camera + proprio fusion)."""

    channels: int = 32
    conv_layers: int = 4
    stride_first_layers: int = 2  # how many leading conv layers use stride 2 (the rest stride 1)
    feature_dim_per_camera: int = 50  # after the linear + LayerNorm + tanh projection
    augment_pad_px: int = 4  # DrQ random shift: replicate-pad by this many pixels, random crop back
    pretrained_weights_path: str | None = None  # local safetensors file of the conv trunk(s); never downloaded
    freeze_pretrained: bool = True


@dataclass(frozen=True)
class SACConfig:
    """SAC with RLPD's recipe: critic ensemble + LayerNorm, REDQ min over a random subset, auto entropy."""

    hidden_width: int = 256
    hidden_layers: int = 2
    num_critics: int = 10
    critic_subset_size: int = 2  # REDQ: target = min over this many randomly chosen target critics
    critic_layer_norm: bool = True
    discount: float = 0.97  # SERL's choice for 10 Hz manipulation episodes
    polyak_tau: float = 0.005  # target <- (1 - tau) target + tau online, every critic update
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    temperature_lr: float = 3e-4
    initial_temperature: float = 0.01  # sparse 0/1 rewards: a large entropy bonus would swamp them (SERL)
    target_entropy_per_action_dim: float = -0.5  # target entropy = this * continuous action dims (RLPD)
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    backup_entropy: bool = False  # subtract alpha * log pi in the target (SERL drops it for sparse rewards)
    # hybrid action (HIL-SERL): continuous arm + discrete gripper {close, stay, open} with a double-DQN critic
    discrete_gripper: bool = False
    gripper_change_penalty: float = 0.0  # subtracted from the reward whenever the gripper command changes
    gripper_epsilon: float = 0.1  # exploration of the discrete gripper head while collecting data


@dataclass(frozen=True)
class ReplayConfig:
    capacity_transitions: int = 1_000_000
    # frames (observations) stored once: next_obs of a transition is the obs of the next one; the frame ring
    # holds capacity + this fraction extra for the first observation of each episode
    extra_frame_fraction: float = 0.1
    online_fraction: float = 0.5  # RLPD symmetric sampling: half online, half prior (demos + interventions)


@dataclass(frozen=True)
class TrainConfig:
    task: str = "pick_cube"
    reward: str = "sparse"
    seed: int = 0
    total_env_steps: int = 15_000
    num_demos: int = 20
    demo_noise_std: float = 0.1
    pixels: bool = False
    cameras: tuple[str, ...] = ("front", "wrist")
    batch_size: int = 256
    utd_ratio: int = 2  # gradient updates per env step (UTD); the last of each group also updates the actor
    start_training_after_steps: int = 500  # online env steps collected (random actions) before updating
    random_action_steps: int = 500
    eval_every_env_steps: int = 1000
    eval_episodes: int = 10
    checkpoint_every_env_steps: int = 5000
    log_every_env_steps: int = 250
    # a scripted human (the expert) takes over with this probability per policy step, for this many steps;
    # its transitions are interventions (online + prior buffers). 0 disables it.
    intervention_prob_per_step: float = 0.0
    intervention_steps: int = 10
    rlif: bool = False  # RLIF: the reward is minus one on a human takeover, no task reward
    rlif_takeover_reward: float = -1.0
    device: str = "auto"  # "auto": cuda when available, else cpu
    compile: bool = False  # torch.compile the update step
    amp: bool = False  # bfloat16 autocast for the networks (CUDA)
    sac: SACConfig = field(default_factory=SACConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
