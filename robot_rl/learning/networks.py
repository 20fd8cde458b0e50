"""Networks of the learner: a vectorised critic ensemble, a tanh-Gaussian actor, a discrete gripper critic and
a pixel encoder (one conv trunk per camera, fused with proprioception), plus DrQ's random-shift augmentation.

The ensemble keeps every critic's weights stacked in a few tensors ``[N, in, out]``: the first layer is one
GEMM against ``[in, N * out]`` (all critics see the same input), the others are one ``torch.baddbmm`` each,
so N critics cost one kernel per layer instead of N.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from robot_rl.learning.config import EncoderConfig


# ---- critic ensemble -----------------------------------------------------------------------------------------
BRN_R_MAX, BRN_D_MAX, BRN_EPS = 3.0, 5.0, 1e-3  # batch renorm clips (Ioffe 2017's final values) and epsilon


def batch_renorm(h: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, train: bool, momentum: float,
                 renorm: bool) -> torch.Tensor:
    """Batch renormalisation (Ioffe, NeurIPS 2017) of ``h`` ``[..., B, H]`` over its batch axis ``-2``, against the
    running ``mean`` / ``var`` ``[..., 1, H]`` (updated in place when ``train``).

    train: ``(h - mu_B) / sd_B * r + d`` with ``r = clip(sd_B / sd, 1/r_max, r_max)`` and
    ``d = clip((mu_B - mu) / sd, -d_max, d_max)`` as constants (no gradient); ``renorm=False`` is plain batch norm
    (r = 1, d = 0: the warm-up while the running statistics settle). Not train: ``(h - mu) / sd``."""
    if not train:
        return (h - mean) / (var + BRN_EPS).sqrt()
    mu_b = h.mean(-2, keepdim=True)
    var_b = h.var(-2, unbiased=False, keepdim=True)
    out = (h - mu_b) / (var_b + BRN_EPS).sqrt()
    with torch.no_grad():
        if renorm:
            sd = (var + BRN_EPS).sqrt()
            r = ((var_b + BRN_EPS).sqrt() / sd).clamp(1.0 / BRN_R_MAX, BRN_R_MAX)
            d = ((mu_b - mean) / sd).clamp(-BRN_D_MAX, BRN_D_MAX)
        mean.lerp_(mu_b.to(mean.dtype), momentum)
        var.lerp_(var_b.to(var.dtype), momentum)
    return out * r + d if renorm else out


class CriticEnsemble(nn.Module):
    """N Q-functions Q_i(x, a) = MLP_i([x, a]), evaluated in one pass; LayerNorm after every hidden layer (RLPD)
    and/or batch renormalisation before every linear layer (CrossQ, Bhatt et al. 2024: the input's is shared by
    the critics and has no affine, as an affine before a linear layer is absorbed by its weights; the hidden ones
    are per critic with a learned scale and shift). ``brn_updates`` counts training forwards for the warm-up."""

    def __init__(self, in_dim: int, hidden: int, layers: int, num_critics: int, layer_norm: bool = True,
                 batch_renorm: bool = False, brn_momentum: float = 0.01, brn_warmup: int = 100_000):
        super().__init__()
        self.num_critics, self.hidden, self.layer_norm = num_critics, hidden, layer_norm
        self.batch_renorm, self.brn_momentum, self.brn_warmup = batch_renorm, brn_momentum, brn_warmup
        dims = [in_dim] + [hidden] * layers + [1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.ln_scales = nn.ParameterList()
        self.ln_shifts = nn.ParameterList()
        self.brn_scales = nn.ParameterList()
        self.brn_shifts = nn.ParameterList()
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            w = torch.empty(num_critics, d_in, d_out)
            for k in range(num_critics):  # same init as nn.Linear, per critic
                nn.init.kaiming_uniform_(w[k].T, a=math.sqrt(5))
            bound = 1.0 / math.sqrt(d_in)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.empty(num_critics, 1, d_out).uniform_(-bound, bound)))
            if i < layers and layer_norm:
                self.ln_scales.append(nn.Parameter(torch.ones(num_critics, 1, d_out)))
                self.ln_shifts.append(nn.Parameter(torch.zeros(num_critics, 1, d_out)))
            if batch_renorm:  # running statistics of this linear layer's input
                shape = (1, d_in) if i == 0 else (num_critics, 1, d_in)
                self.register_buffer(f"brn_mean{i}", torch.zeros(shape))
                self.register_buffer(f"brn_var{i}", torch.ones(shape))
                if i > 0:
                    self.brn_scales.append(nn.Parameter(torch.ones(num_critics, 1, d_in)))
                    self.brn_shifts.append(nn.Parameter(torch.zeros(num_critics, 1, d_in)))
        if batch_renorm:
            self.register_buffer("brn_updates", torch.zeros((), dtype=torch.long))

    def params(self) -> list[torch.Tensor]:
        return list(self.parameters())

    def _brn(self, i: int, h: torch.Tensor, train: bool, subset, scales, shifts) -> torch.Tensor:
        mean, var = getattr(self, f"brn_mean{i}"), getattr(self, f"brn_var{i}")
        if i > 0 and subset is not None:
            mean, var = mean[subset], var[subset]
        renorm = train and int(self.brn_updates) >= self.brn_warmup
        h = batch_renorm(h, mean, var, train, self.brn_momentum, renorm)
        return h if i == 0 else h * scales[i - 1] + shifts[i - 1]

    def forward(self, x: torch.Tensor, params: list[torch.Tensor] | None = None,
                subset: torch.Tensor | None = None, bn_train: bool | None = None) -> torch.Tensor:
        """Q-values ``[N, B]`` of input ``x`` ``[B, in]``. ``params`` overrides the weights (e.g. detached for
        the actor loss); ``subset`` (long ``[K]``) evaluates only those critics and returns ``[K, B]``. With batch
        renorm, ``bn_train`` (default: ``self.training``) normalises with this batch's statistics and updates the
        running ones (then ``subset`` must be None), else uses the running statistics."""
        p = params if params is not None else self.params()
        n_lin, n_ln, n_brn = len(self.weights), len(self.ln_scales), len(self.brn_scales)
        ws, bs = p[:n_lin], p[n_lin:2 * n_lin]
        scales, shifts = p[2 * n_lin:2 * n_lin + n_ln], p[2 * n_lin + n_ln:2 * n_lin + 2 * n_ln]
        bscales, bshifts = p[2 * n_lin + 2 * n_ln:][:n_brn], p[2 * n_lin + 2 * n_ln + n_brn:]
        train = self.training if bn_train is None else bn_train
        if subset is not None:
            if self.batch_renorm and train:
                raise ValueError("batch renorm in training mode evaluates all critics (their statistics update)")
            ws, bs = [w[subset] for w in ws], [b[subset] for b in bs]
            scales, shifts = [s[subset] for s in scales], [s[subset] for s in shifts]
            bscales, bshifts = [s[subset] for s in bscales], [s[subset] for s in bshifts]
        n = ws[0].shape[0]
        b_sz = x.shape[0]
        if self.batch_renorm:
            x = self._brn(0, x, train, subset, bscales, bshifts)
            if train:
                with torch.no_grad():
                    self.brn_updates += 1
        # first layer: one GEMM for all critics, [B, in] @ [in, N*H] -> [N, B, H]
        w0 = ws[0].permute(1, 0, 2).reshape(x.shape[-1], -1)
        h = (x @ w0).view(b_sz, n, -1).transpose(0, 1) + bs[0]
        for i in range(1, n_lin):
            if self.layer_norm:
                h = F.layer_norm(h, h.shape[-1:]) * scales[i - 1] + shifts[i - 1]
            h = F.relu(h)
            if self.batch_renorm:
                h = self._brn(i, h, train, subset, bscales, bshifts)
            if i == n_lin - 1:  # the cheap output layer in float32 even under bf16 autocast: TD errors are small
                with torch.autocast(h.device.type, enabled=False):
                    return torch.baddbmm(bs[i].float(), h.float(), ws[i].float()).squeeze(-1)
            h = torch.baddbmm(bs[i], h, ws[i])
        return h.squeeze(-1)

    def single(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """Critic ``k`` alone, written as a plain per-critic MLP (reference for tests; batch renorm with the
        running statistics)."""
        h = x
        n_lin = len(self.weights)
        for i in range(n_lin):
            if self.batch_renorm:
                mean, var = getattr(self, f"brn_mean{i}"), getattr(self, f"brn_var{i}")
                mean, var = (mean[0], var[0]) if i == 0 else (mean[k, 0], var[k, 0])
                h = (h - mean) / (var + BRN_EPS).sqrt()
                if i > 0:
                    h = h * self.brn_scales[i - 1][k, 0] + self.brn_shifts[i - 1][k, 0]
            h = h @ self.weights[i][k] + self.biases[i][k]
            if i < n_lin - 1:
                if self.layer_norm:
                    h = F.layer_norm(h, h.shape[-1:]) * self.ln_scales[i][k] + self.ln_shifts[i][k]
                h = F.relu(h)
        return h.squeeze(-1)


def mlp(in_dim: int, hidden: int, layers: int, out_dim: int, layer_norm: bool = False) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        mods.append(nn.Linear(d, hidden))
        if layer_norm:
            mods.append(nn.LayerNorm(hidden))
        mods.append(nn.ReLU())
        d = hidden
    mods.append(nn.Linear(d, out_dim))
    return nn.Sequential(*mods)


# ---- actor ---------------------------------------------------------------------------------------------------
class TanhGaussianActor(nn.Module):
    """pi(a|x): Gaussian squashed by tanh into [-1, 1]^d, with the change-of-variables log-probability."""

    def __init__(self, in_dim: int, action_dim: int, hidden: int, layers: int, log_std_min: float,
                 log_std_max: float):
        super().__init__()
        self.trunk = mlp(in_dim, hidden, layers, 2 * action_dim)
        self.log_std_min, self.log_std_max = log_std_min, log_std_max

    def forward(self, x: torch.Tensor, deterministic: bool = False, generator: torch.Generator | None = None):
        mean, log_std = self.trunk(x).float().chunk(2, dim=-1)  # the distribution in float32 (also under AMP)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (torch.tanh(log_std) + 1)
        if deterministic:
            return torch.tanh(mean), None
        std = log_std.exp()
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        u = mean + std * eps
        a = torch.tanh(u)
        # log N(u; mean, std) - sum log(1 - tanh(u)^2), the latter in the stable form 2 (log 2 - u - softplus(-2u))
        log_prob = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return a, log_prob


# ---- discrete gripper critic (hybrid action) -----------------------------------------------------------------
GRIPPER_CLOSE, GRIPPER_STAY, GRIPPER_OPEN = 0, 1, 2
NUM_GRIPPER_ACTIONS = 3


class GripperCritic(nn.Module):
    """Q(x, g) for the discrete gripper command g in {close, stay, open} (HIL-SERL's grasp critic)."""

    def __init__(self, in_dim: int, hidden: int, layers: int, layer_norm: bool = True):
        super().__init__()
        self.net = mlp(in_dim, hidden, layers, NUM_GRIPPER_ACTIONS, layer_norm=layer_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ---- pixels --------------------------------------------------------------------------------------------------
def random_shift(images: torch.Tensor, pad_px: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """DrQ augmentation: replicate-pad by ``pad_px`` and crop back at a random offset per image.

    ``images`` ``[B, H, W, C]`` (any dtype, uint8 in the buffer); returns the same shape and dtype. Integer
    shifts are done by gathering pixels, so no interpolation and no dtype change."""
    if pad_px <= 0:
        return images
    b, h, w, _ = images.shape
    x = images.permute(0, 3, 1, 2)
    padded = F.pad(x.float() if not x.is_floating_point() else x, (pad_px,) * 4, mode="replicate").to(x.dtype)
    dx = torch.randint(0, 2 * pad_px + 1, (b,), generator=generator, device=images.device)
    dy = torch.randint(0, 2 * pad_px + 1, (b,), generator=generator, device=images.device)
    rows = (dy[:, None] + torch.arange(h, device=images.device)[None])  # [B, H]
    cols = (dx[:, None] + torch.arange(w, device=images.device)[None])  # [B, W]
    bi = torch.arange(b, device=images.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]  # [B, H, W, C]
    return out


class ConvTrunk(nn.Module):
    def __init__(self, cfg: EncoderConfig, image_size_px: int):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(cfg.conv_layers):
            layers += [nn.Conv2d(c_in, cfg.channels, 3, stride=2 if i < cfg.stride_first_layers else 1), nn.ReLU()]
            c_in = cfg.channels
        self.net = nn.Sequential(*layers)
        with torch.no_grad():
            self.out_dim = int(self.net(torch.zeros(1, 3, image_size_px, image_size_px)).numel())

    def forward(self, images_uint8_bhwc: torch.Tensor) -> torch.Tensor:
        x = images_uint8_bhwc.permute(0, 3, 1, 2).float() / 255.0 - 0.5
        return self.net(x).flatten(1)


FEATURE_PREFIX = "features/"  # a batch's cached features of camera c: obs["features/<c>"] instead of "images/<c>"


class PixelEncoder(nn.Module):
    """One conv trunk + projection per camera; features concatenated with the proprioceptive state.

    ``cfg.frozen`` freezes all of it (the seeded random initialisation or the pretrained trunks). A batch may carry a
    camera's cached features (``features/<camera>``, see :meth:`frozen_features`) instead of its images: the output
    of the frozen part, i.e. the projected features when the whole encoder is frozen (``cache_level() ==
    "features"``), the conv trunk's flattened output when only the trunk is (``"trunk"``: the projection runs on
    it, and trains)."""

    def __init__(self, cameras: tuple[str, ...], state_dim: int, cfg: EncoderConfig, image_size_px: int):
        super().__init__()
        self.cameras = tuple(cameras)
        self.trunks = nn.ModuleDict({c: ConvTrunk(cfg, image_size_px) for c in self.cameras})
        self.projections = nn.ModuleDict({
            c: nn.Sequential(nn.Linear(self.trunks[c].out_dim, cfg.feature_dim_per_camera),
                             nn.LayerNorm(cfg.feature_dim_per_camera), nn.Tanh())
            for c in self.cameras
        })
        self.out_dim = state_dim + len(self.cameras) * cfg.feature_dim_per_camera
        if cfg.pretrained_weights_path:
            self.load_pretrained(cfg.pretrained_weights_path, cfg.freeze_pretrained)
        if cfg.frozen:
            self.requires_grad_(False)

    def cache_level(self) -> str | None:
        """What a feature cache may store: ``"features"`` (all frozen), ``"trunk"`` (only the conv trunks frozen)
        or None (the trunks train: nothing is fixed per frame)."""
        if any(p.requires_grad for p in self.trunks.parameters()):
            return None
        return "trunk" if any(p.requires_grad for p in self.projections.parameters()) else "features"

    @torch.no_grad()
    def frozen_features(self, images: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{camera: [B, D]}`` of the frozen part (:meth:`cache_level`) for uint8 ``images/<camera>`` ``[B, H, W,
        3]``: what a feature cache stores per frame."""
        level = self.cache_level()
        if level is None:
            raise ValueError("the conv trunks are trainable: their features change at every update (nothing to cache)")
        out = {}
        for c in self.cameras:
            h = self.trunks[c](images[f"images/{c}"])
            out[c] = self.projections[c](h) if level == "features" else h
        return out

    def load_pretrained(self, path: str, freeze: bool) -> None:
        """Load conv-trunk weights from a local safetensors file (keys ``<camera>.net.<i>.weight`` as written by
        :meth:`save_trunks`, or ``net.<i>.weight`` applied to every camera); optionally freeze them."""
        from safetensors.torch import load_file

        tensors = load_file(path)
        for cam, trunk in self.trunks.items():
            own = {k[len(cam) + 1:]: v for k, v in tensors.items() if k.startswith(cam + ".")}
            sd = own or {k: v for k, v in tensors.items() if k.startswith("net.")}
            missing, unexpected = trunk.load_state_dict(sd, strict=False)
            if missing:
                raise ValueError(f"pretrained encoder {path}: missing {missing} for camera {cam!r}")
            if freeze:
                for p in trunk.parameters():
                    p.requires_grad_(False)

    def trunk_state(self) -> dict[str, torch.Tensor]:
        return {f"{c}.{k}": v.detach().cpu().contiguous() for c, t in self.trunks.items() for k, v in t.state_dict().items()}

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        feats = []
        for c in self.cameras:
            cached = obs.get(FEATURE_PREFIX + c)
            if cached is None:
                feats.append(self.projections[c](self.trunks[c](obs[f"images/{c}"])))
            elif self.cache_level() == "trunk":
                feats.append(self.projections[c](cached.float()))
            else:
                feats.append(cached.float())
        return torch.cat(feats + [obs["state"]], dim=-1)
