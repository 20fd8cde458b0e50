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
class CriticEnsemble(nn.Module):
    """N Q-functions Q_i(x, a) = MLP_i([x, a]) with LayerNorm after every hidden layer, evaluated in one pass."""

    def __init__(self, in_dim: int, hidden: int, layers: int, num_critics: int, layer_norm: bool = True):
        super().__init__()
        self.num_critics, self.hidden, self.layer_norm = num_critics, hidden, layer_norm
        dims = [in_dim] + [hidden] * layers + [1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.ln_scales = nn.ParameterList()
        self.ln_shifts = nn.ParameterList()
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

    def params(self) -> list[torch.Tensor]:
        return list(self.parameters())

    def forward(self, x: torch.Tensor, params: list[torch.Tensor] | None = None,
                subset: torch.Tensor | None = None) -> torch.Tensor:
        """Q-values ``[N, B]`` of input ``x`` ``[B, in]``. ``params`` overrides the weights (e.g. detached for
        the actor loss); ``subset`` (long ``[K]``) evaluates only those critics and returns ``[K, B]``."""
        p = params if params is not None else self.params()
        n_lin = len(self.weights)
        ws, bs = p[:n_lin], p[n_lin:2 * n_lin]
        scales, shifts = p[2 * n_lin:2 * n_lin + len(self.ln_scales)], p[2 * n_lin + len(self.ln_scales):]
        if subset is not None:
            ws, bs = [w[subset] for w in ws], [b[subset] for b in bs]
            scales, shifts = [s[subset] for s in scales], [s[subset] for s in shifts]
        n = ws[0].shape[0]
        b_sz = x.shape[0]
        # first layer: one GEMM for all critics, [B, in] @ [in, N*H] -> [N, B, H]
        w0 = ws[0].permute(1, 0, 2).reshape(x.shape[-1], -1)
        h = (x @ w0).view(b_sz, n, -1).transpose(0, 1) + bs[0]
        for i in range(1, n_lin):
            if self.layer_norm:
                h = F.layer_norm(h, h.shape[-1:]) * scales[i - 1] + shifts[i - 1]
            h = F.relu(h)
            if i == n_lin - 1:  # the cheap output layer in float32 even under bf16 autocast: TD errors are small
                with torch.autocast(h.device.type, enabled=False):
                    return torch.baddbmm(bs[i].float(), h.float(), ws[i].float()).squeeze(-1)
            h = torch.baddbmm(bs[i], h, ws[i])
        return h.squeeze(-1)

    def single(self, k: int, x: torch.Tensor) -> torch.Tensor:
        """Critic ``k`` alone, written as a plain per-critic MLP (reference for tests)."""
        h = x
        n_lin = len(self.weights)
        for i in range(n_lin):
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


class PixelEncoder(nn.Module):
    """One conv trunk + projection per camera; features concatenated with the proprioceptive state."""

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
        feats = [self.projections[c](self.trunks[c](obs[f"images/{c}"])) for c in self.cameras]
        return torch.cat(feats + [obs["state"]], dim=-1)
