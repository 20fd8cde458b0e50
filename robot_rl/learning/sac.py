"""The algorithm: SAC with RLPD's recipe, DrQ's pixels and HIL-SERL's hybrid gripper, in one file you can read
top to bottom. It owns the critics, the optimiser and the ONE update-to-data loop (:meth:`SAC.update_block`, over a
:class:`~robot_rl.learning.mixer.DataMixer`) used by the trainer, the ROS learner and the benches; the acting
part is :class:`~robot_rl.learning.policy.Policy` (what ships to actors).

One update (``SAC.update``) is fused into a single backward pass and a single optimiser step:

    x      = encode(aug(obs))                    # encoder trained through the critic loss only
    x'     = encode(aug(next_obs))   (no grad)
    a, a'  = actor([x.detach(); x'])             # one actor pass for the actor loss and the target
    y      = r + gamma (1 - done) (min_{k in random K of N} Q'_k(x', a') - alpha log pi(a'|x'))
    L_Q    = mean_i (Q_i(x, a_data) - y)^2       # all N critics in one batched forward
    L_pi   = alpha log pi(a|x) - mean_i Q_i(x, a)   with the critics' weights detached
    L_alpha= -log alpha (log pi(a|x) + H_target)
    L_bc   = bc_weight mean_{prior rows} ||a - a_data||^2   (bc_weight 1 by default; 0 turns it off)
    L_grip = (Q_g(x, g) - (r - penalty + gamma Q_g'(x', argmax_g Q_g(x', .))))^2   (hybrid action only)
    step Adam once on L_Q + L_pi + L_alpha + L_grip; Polyak the targets with one foreach lerp

Options (``SACConfig`` / ``AlgoConfig``), all inside this one update:

- ``actor_q_reduction``: the actor's Q is the mean of all critics (RLPD, REDQ), their min (SAC, SB3), or
  ``subset_mean``: the mean of ``actor_critic_subset_size`` critics drawn at random for each actor update
  (evaluating only those: cheaper with a big ensemble).
- ``bc_weight``: a behaviour-cloning term (TD3+BC, Fujimoto & Gu 2021) on the batch's prior rows (the demos and
  interventions that RLPD's symmetric sampling puts in every batch), added to the actor's loss.
- ``actor_update_every`` (k): the actor and temperature update on every k-th ``update_block`` only.
- ``crossq`` (Bhatt et al., "CrossQ", ICLR 2024): no target critics and no Polyak step; batch renormalisation
  (Ioffe 2017) before every critic linear layer; ``[x; x']`` with ``[a_data; a']`` go through the critics in ONE
  forward so both halves are normalised with the same batch statistics, and the target is that forward's second
  half, detached: ``y = r + gamma (1 - done) min_K Q(x', a')``. The actor's loss reads the critics with their
  running statistics. The preset ``crossq`` adds CrossQ's UTD 1, policy delay 3 and 2 critics. Differences from
  the paper: the actor has no batch renorm, the critics keep our width and Adam's defaults (the paper: 2048
  units, lr 1e-3, beta1 0.5), and the hybrid gripper's DQN head keeps its own target.

Frozen-encoder feature cache (``encoder.feature_cache``; needs ``encoder.frozen``, or a pretrained conv trunk with
``freeze_pretrained``): the frozen part's features of a stored frame never change, so ``update_block`` has both
buffers of its mixer compute them once per frame (:meth:`ReplayBuffer.enable_feature_cache`, stored in
``encoder.feature_cache_dtype``) and the batches carry ``features/<camera>`` instead of images. The update is
the same (``encode`` reads the cached features; with only the trunk frozen, the projection runs on the cached
trunk output and trains) except that DrQ's random shift, an image augmentation, cannot apply: the cache turns
it off. The policy that ships keeps the encoder and encodes images itself.

The losses touch disjoint parameters (the actor sees detached features and detached critic weights, the
critic sees detached actions), so summing them and stepping once gives the same gradients as separate
steps — with the one difference that the actor is scored by the critics before this step's critic update.
Nothing here calls ``.item()``: metrics are returned as tensors and only read when logged.

``compile``: ``torch.compile`` of the loss computation. If the compiler fails on this torch build, the update
warns once and runs the same losses eagerly (``SAC.compiled`` turns False).
"""
from __future__ import annotations

import copy
import dataclasses
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robot_rl.learning.config import AlgoConfig, EncoderConfig, SACConfig
from robot_rl.learning.networks import GRIPPER_STAY, NUM_GRIPPER_ACTIONS, CriticEnsemble, random_shift
from robot_rl.learning.policy import STATE_STD_FLOOR, Policy  # noqa: F401 (re-exported)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class SAC(nn.Module):
    """Critics + targets + temperature + one optimiser around a :class:`Policy` (``self.policy``)."""

    def __init__(self, obs_spec: dict, action_dim: int, cfg: AlgoConfig, device: str | torch.device | None = None,
                 use_cameras: bool = True):
        super().__init__()
        self.algo_cfg = cfg
        self.cfg = cfg.sac
        self.device = pick_device(cfg.device) if device is None else torch.device(device)
        self.amp = cfg.amp
        self.policy = Policy(obs_spec, action_dim, cfg, use_cameras=use_cameras)
        s, feat_dim, arm_dim = cfg.sac, self.policy.feature_dim, self.policy.arm_dim
        self.critic = CriticEnsemble(feat_dim + arm_dim, s.hidden_width, s.hidden_layers, s.num_critics,
                                     s.critic_layer_norm, batch_renorm=s.crossq, brn_momentum=s.batch_renorm_momentum,
                                     brn_warmup=s.batch_renorm_warmup_updates)
        # CrossQ has no target critics: the target comes from the online critics' joint forward
        self.critic_target = None if s.crossq else copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(float(np.log(s.initial_temperature))))
        self.target_entropy = s.target_entropy_per_action_dim * arm_dim
        self.gripper_target = copy.deepcopy(self.policy.gripper_critic).requires_grad_(False) \
            if s.discrete_gripper else None
        self.to(self.device)

        critic_params = list(self.critic.parameters())
        if self.encoder is not None:
            critic_params += [p for p in self.encoder.parameters() if p.requires_grad]
        if self.gripper_critic is not None:
            critic_params += list(self.gripper_critic.parameters())
        groups = [
            {"params": critic_params, "lr": s.critic_lr},
            {"params": list(self.actor.parameters()), "lr": s.actor_lr},
            {"params": [self.log_alpha], "lr": s.temperature_lr},
        ]
        # one optimiser for everything: one (fused) kernel launch sequence per step instead of three
        self.optimizer = torch.optim.Adam(groups, **_fast_adam_kwargs(self.device))
        self._online_target_pairs = self._target_pairs()
        self._loss_fn = torch.compile(self._losses) if cfg.compile else self._losses
        self.feature_cache = self.encoder is not None and cfg.encoder.feature_cache
        if self.feature_cache and self.encoder.cache_level() is None:
            raise ValueError("encoder.feature_cache needs a frozen encoder: set encoder.frozen, or a pretrained trunk "
                             "(encoder.pretrained_weights_path) with encoder.freeze_pretrained")
        self._featurize = self.featurize  # one bound method: the buffers' cache is attached to this agent
        self.update_blocks = 0  # update_block calls so far (the actor's every-k-th schedule; not checkpointed)
        self.update_cpu_s = 0.0  # process CPU seconds spent inside update_block (the learner's compute)

    # the policy's parts, by their usual names
    actor = property(lambda self: self.policy.actor)
    encoder = property(lambda self: self.policy.encoder)
    gripper_critic = property(lambda self: self.policy.gripper_critic)
    cameras = property(lambda self: self.policy.cameras)
    action_dim = property(lambda self: self.policy.action_dim)
    # the losses run compiled (False: compile is off, or the compiler failed and they fell back to eager)
    compiled = property(lambda self: self._loss_fn != self._losses)
    arm_dim = property(lambda self: self.policy.arm_dim)
    encoder_cfg = property(lambda self: self.algo_cfg.encoder)

    def _target_pairs(self):
        online = list(self.critic.parameters()) if self.critic_target is not None else []
        target = list(self.critic_target.parameters()) if self.critic_target is not None else []
        if self.gripper_critic is not None:
            online += list(self.gripper_critic.parameters())
            target += list(self.gripper_target.parameters())
        return online, target

    # ---- observations and acting (the policy's) ----------------------------------------------------------
    def set_state_normalization(self, states: np.ndarray) -> None:
        self.policy.set_state_normalization(states)

    def encode(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.policy.encode(obs)

    def act(self, obs, deterministic: bool = False, rng: np.random.Generator | None = None) -> np.ndarray:
        return self.policy.act(obs, deterministic=deterministic, rng=rng)

    def augment(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """DrQ random shift of the images/<camera> entries (a cached batch has none: no augmentation)."""
        if not self.cameras:
            return obs
        pad = self.encoder_cfg.augment_pad_px
        return {k: (random_shift(v, pad) if k.startswith("images/") else v) for k, v in obs.items()}

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    @torch.no_grad()
    def featurize(self, images: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The frozen encoder part's features ``{camera: [n, D]}`` of uint8 ``images/<camera>`` (the cache's)."""
        with self._autocast():
            return self.encoder.frozen_features(images)

    def attach_feature_cache(self, *buffers) -> None:
        """Have ``buffers`` cache this agent's frozen features (no-op without ``encoder.feature_cache``, and for a
        buffer already attached)."""
        if not self.feature_cache:
            return
        dtype = getattr(torch, self.encoder_cfg.feature_cache_dtype)
        for buf in buffers:
            if buf.featurizer is not self._featurize:
                buf.enable_feature_cache(self._featurize, dtype)

    # ---- learning --------------------------------------------------------------------------------------
    def _losses(self, obs, action, reward, terminated, next_obs, update_actor: bool, n_online: int):
        cfg = self.cfg
        b = reward.shape[0]
        obs, next_obs = self.augment(obs), self.augment(next_obs)
        x = self.encode(obs)
        with torch.no_grad():
            x_next = self.encode(next_obs)
        alpha = self.log_alpha.exp().detach()
        arm = action[:, :self.arm_dim]

        if update_actor:  # one actor pass serves the actor loss (first half) and the target (second half)
            a_all, logp_all = self.actor(torch.cat([x.detach(), x_next]))
            a_pi, logp_pi = a_all[:b], logp_all[:b]
            a_next, logp_next = a_all[b:].detach(), logp_all[b:].detach()
        else:
            with torch.no_grad():
                a_next, logp_next = self.actor(x_next)

        subset = _random_subset(cfg.num_critics, cfg.critic_subset_size, x.device)
        if cfg.crossq:  # CrossQ: (x, a) and (x', a') in one forward of the online critics, sharing batch statistics
            q_both = self.critic(torch.cat([torch.cat([x, arm], -1), torch.cat([x_next, a_next], -1)]))
            q_next_all = q_both[:, b:].detach()
            q, q_next = q_both[:, :b], (q_next_all if subset is None else q_next_all[subset]).min(0).values
        else:
            q = self.critic(torch.cat([x, arm], -1))  # [N, B], one batched forward
            with torch.no_grad():  # REDQ target: min over a random subset of the target critics
                q_next = self.critic_target(torch.cat([x_next, a_next], -1), subset=subset).min(0).values
        with torch.no_grad():
            if cfg.backup_entropy:
                q_next = q_next - alpha * logp_next
            y = reward + cfg.discount * (1.0 - terminated) * q_next
        terms = {"critic_loss": (q - y).pow(2).mean()}
        stats = {"q_mean": q.detach().mean()}

        if update_actor:
            frozen = [p.detach() for p in self.critic.parameters()]
            x_pi = torch.cat([x.detach(), a_pi], -1)  # batch renorm (CrossQ): the running statistics, not updated
            if cfg.actor_q_reduction == "subset_mean":
                pick = _random_subset(cfg.num_critics, cfg.actor_critic_subset_size, x.device)
                q_pi = self.critic(x_pi, params=frozen, subset=pick, bn_train=False).mean(0)
            else:
                q_all = self.critic(x_pi, params=frozen, bn_train=False)
                q_pi = q_all.min(0).values if cfg.actor_q_reduction == "min" else q_all.mean(0)
            terms["actor_loss"] = (alpha * logp_pi - q_pi).mean()
            if cfg.bc_weight > 0 and n_online < b:  # TD3+BC-style term on the prior rows (demos, interventions)
                terms["bc_loss"] = cfg.bc_weight * (a_pi[n_online:] - arm[n_online:]).pow(2).sum(-1).mean()
            terms["temperature_loss"] = -(self.log_alpha * (logp_pi.detach() + self.target_entropy)).mean()
            stats.update(temperature=alpha, entropy=-logp_pi.detach().mean())

        if self.gripper_critic is not None:  # double DQN on the discrete gripper head
            g = action[:, -1].round().long().clamp(0, NUM_GRIPPER_ACTIONS - 1)
            q_g = self.gripper_critic(x).gather(1, g[:, None]).squeeze(1)
            with torch.no_grad():
                g_next = self.gripper_critic(x_next).argmax(-1, keepdim=True)
                q_g_next = self.gripper_target(x_next).gather(1, g_next).squeeze(1)
                r_g = reward - cfg.gripper_change_penalty * (g != GRIPPER_STAY).float()
                y_g = r_g + cfg.discount * (1.0 - terminated) * q_g_next
            terms["gripper_loss"] = F.mse_loss(q_g, y_g)
        return terms, stats

    def update(self, batch: dict, update_actor: bool = True) -> dict[str, torch.Tensor]:
        """One gradient update on a batch from the replay (already on this device). Returns tensor metrics."""
        args = (batch["obs"], batch["action"], batch["reward"], batch["terminated"], batch["next_obs"], update_actor,
                batch.get("n_online", len(batch["reward"])))
        with self._autocast():
            try:
                terms, stats = self._loss_fn(*args)
            except torch._dynamo.exc.BackendCompilerFailed as e:  # compiling happens before any maths: nothing ran
                cause = f"{type(e.inner_exception).__name__}: {str(e.inner_exception).strip().splitlines()[0]}"
                warnings.warn(f"torch.compile failed ({cause}); the losses run eagerly from now on (set compile: "
                              "false to skip compiling)", RuntimeWarning, stacklevel=2)
                self._loss_fn = self._losses
                terms, stats = self._loss_fn(*args)
        self.optimizer.zero_grad(set_to_none=True)
        sum(terms.values()).backward()  # the terms touch disjoint parameters: one backward, one step
        self.optimizer.step()
        online, target = self._online_target_pairs
        if target:
            with torch.no_grad():
                torch._foreach_lerp_(target, online, self.cfg.polyak_tau)
        return {**{k: v.detach() for k, v in terms.items()}, **stats}

    def update_block(self, mixer) -> dict[str, torch.Tensor]:
        """THE update-to-data loop: ``utd_ratio`` critic updates on batches from ``mixer`` (online/prior mix), the
        last of them also updating the actor and the temperature (RLPD) on every ``actor_update_every``-th call
        (k; k = 1: every call; CrossQ's policy delay is k = 3 at UTD 1), so the critic-to-actor update ratio is
        ``utd_ratio * k``. Call once per env step collected.

        Counts its calls (``update_blocks``) and the process CPU time spent in it (``update_cpu_s``,
        ``time.process_time``: every thread of the process, torch's intra-op ones included, while the updates
        run; the env steps between calls are not in it; on CUDA only the host's side). With ``encoder.feature_cache``
        the mixer's buffers cache the frozen features (encoding the frames new since the last call: in it)."""
        t0 = time.process_time()
        self.attach_feature_cache(mixer.online, mixer.prior)  # encoder.feature_cache: batches carry features
        n, k = self.algo_cfg.utd_ratio, self.algo_cfg.actor_update_every
        self.update_blocks += 1
        actor_now = self.update_blocks % k == 0
        metrics: dict = {}
        for g in range(n):
            metrics = self.update(mixer.sample(), update_actor=actor_now and g == n - 1)
        self.update_cpu_s += time.process_time() - t0
        return metrics



def SACAgent(state_dim: int, action_dim: int, cfg: SACConfig, cameras: tuple[str, ...] = (),
             encoder_cfg: EncoderConfig | None = None, image_size_px: int = 128, device: str | torch.device = "cpu",
             amp: bool = False, compile: bool = False) -> SAC:
    """A :class:`SAC` from dimensions (a state vector of ``state_dim`` + ``cameras`` of ``image_size_px``)."""
    spec = {"state": ((state_dim,), np.dtype(np.float32))}
    spec.update({f"images/{c}": ((image_size_px, image_size_px, 3), np.dtype(np.uint8)) for c in cameras})
    algo = dataclasses.replace(AlgoConfig(), sac=cfg, encoder=encoder_cfg or EncoderConfig(), amp=amp, compile=compile)
    return SAC(spec, action_dim, algo, device=device)


def _random_subset(n: int, k: int, device: torch.device) -> torch.Tensor | None:
    """``k`` of ``n`` critic indices drawn without replacement, or None (all of them) when ``k >= n``: the same set
    for a min or a mean, without a randperm that is sliced to its full length (torch 2.13's inductor fails to compile
    ``randperm(n)[:n]``: its randperm-index pattern loses the no-op slice)."""
    return None if k >= n else torch.randperm(n, device=device)[:k]


def _fast_adam_kwargs(device: torch.device) -> dict:
    """Fused Adam where this torch has it for the device (CPU since 2.4, CUDA), else foreach."""
    try:
        torch.optim.Adam([torch.zeros(1, device=device, requires_grad=True)], fused=True)
        return {"fused": True}
    except (RuntimeError, TypeError):
        return {"foreach": True}
