"""Does the twin rank policies as the robot does? Pearson r, Kendall tau and MMRV of per-policy success rates.

MMRV, the mean maximum rank violation, is SIMPLER's metric (Li et al. 2024, "Evaluating Real-World Robot
Manipulation Policies in Simulation", eq. 1): for N policies with real success R_i and twin success S_i,

    RankViolation(i, j) = |R_i - R_j| * 1[(S_i < S_j) != (R_i < R_j)]
    MMRV = (1 / N) * sum_i max_j RankViolation(i, j)

so a pair the twin orders wrongly costs the real-success gap between them, and each policy counts only its worst
such pair. 0 is a perfect ranking; it is in [0, 1] for success rates in [0, 1].
"""
from __future__ import annotations

import math

import numpy as np


def mmrv(real, twin) -> float:
    r, s = np.asarray(real, float), np.asarray(twin, float)
    if r.shape != s.shape or r.ndim != 1 or len(r) < 2:
        raise ValueError(f"mmrv needs two equally long vectors of >= 2 success rates, got {r.shape} and {s.shape}")
    wrong = (s[:, None] < s[None, :]) != (r[:, None] < r[None, :])
    violation = np.abs(r[:, None] - r[None, :]) * wrong
    return float(violation.max(axis=1).mean())


def _or_none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def ranking_figures(real, twin) -> dict:
    """Pearson r, Kendall tau (tau-b, ties handled) and MMRV of twin vs real success over the same policies.

    A correlation is ``None`` where it is undefined (every policy has the same success on one side); MMRV is
    always defined."""
    from scipy import stats

    r, s = np.asarray(real, float), np.asarray(twin, float)
    out = {"policies": int(len(r)), "mmrv": mmrv(r, s), "pearson_r": None, "kendall_tau": None}
    if np.ptp(r) > 0 and np.ptp(s) > 0:
        out["pearson_r"] = _or_none(stats.pearsonr(r, s)[0])
        out["kendall_tau"] = _or_none(stats.kendalltau(r, s)[0])
    return out


def ranking_intervals(real_episodes, twin_episodes, resamples: int = 2000, level: float = 0.95,
                      seed: int = 0) -> dict:
    """Bootstrap confidence intervals of :func:`ranking_figures` over episodes.

    ``*_episodes``: (policies, episodes) 0/1 outcomes. Both sides ran the same seeds, so a resample draws episode
    indices once and takes those columns on both sides (paired). A correlation's interval is over the resamples
    where it is defined; ``*_defined`` says what fraction that was."""
    from scipy import stats

    real, twin = np.asarray(real_episodes, float), np.asarray(twin_episodes, float)
    if real.shape != twin.shape or real.ndim != 2:
        raise ValueError(f"episode outcomes must be two (policies, episodes) arrays, got {real.shape}, {twin.shape}")
    rng = np.random.default_rng(seed)
    n = real.shape[1]
    draws = {"pearson_r": [], "kendall_tau": [], "mmrv": []}
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        r, s = real[:, idx].mean(axis=1), twin[:, idx].mean(axis=1)
        draws["mmrv"].append(mmrv(r, s))
        if np.ptp(r) > 0 and np.ptp(s) > 0:
            draws["pearson_r"].append(stats.pearsonr(r, s)[0])
            draws["kendall_tau"].append(stats.kendalltau(r, s)[0])
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    out = {"ci_level": level, "resamples": resamples}
    for k, v in draws.items():
        v = np.asarray(v, float)
        out[f"{k}_ci"] = [float(x) for x in np.percentile(v, q)] if len(v) else None
        if k != "mmrv":
            out[f"{k}_defined"] = len(v) / resamples
    return out
