"""Checkpoints that resume exactly and execute no code on load.

A checkpoint is a folder: ``model.safetensors`` (networks, temperature, normalisation), ``optimizer.safetensors``
(Adam moments and step counts), ``online.npz`` / ``prior.npz`` (replay buffers), ``rng.safetensors`` (torch
RNG), and ``meta.json`` (step counters, numpy RNG state, config, history, optimiser hyper-parameters, the contract
revision it was trained against and the SHA-256 of every other file). Each file is written atomically and ``meta.json`` last, so a crash mid-save
leaves the previous consistent checkpoint; any damage is reported as :class:`CheckpointError`.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from robot_rl.contract import REVISION as CONTRACT_REVISION
from robot_rl.contract import REVISION_HISTORY
from robot_rl.io import atomic_write_bytes

FORMAT_VERSION = 1
META = "meta.json"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded (missing, truncated, corrupted or from another configuration)."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            t = v if torch.is_tensor(v) else torch.tensor(v)
            tensors[f"{pid}.{k}"] = t.detach().cpu().contiguous()
    return tensors, {"param_groups": sd["param_groups"]}


def optimizer_from_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: dict) -> None:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": groups["param_groups"]})


def save_checkpoint(directory: str | Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    buffers: dict, meta: dict) -> Path:
    """Write a checkpoint folder. ``buffers``: name -> ReplayBuffer; ``meta``: JSON-able counters and state."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    files["model.safetensors"] = st_save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    opt_tensors, opt_groups = optimizer_to_tensors(optimizer)
    files["optimizer.safetensors"] = st_save(opt_tensors)
    rng = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng.update({f"torch_cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    files["rng.safetensors"] = st_save(rng)
    for name, buf in buffers.items():
        bio = io.BytesIO()
        np.savez(bio, **buf.state_arrays())
        files[f"{name}.npz"] = bio.getvalue()
    for name, data in files.items():
        atomic_write_bytes(d / name, data)
    full_meta = {"format_version": FORMAT_VERSION, **meta, "contract_revision": CONTRACT_REVISION, "optimizer": opt_groups,
                 "files": {name: _sha256(data) for name, data in files.items()}}
    atomic_write_bytes(d / META, json.dumps(full_meta, indent=1).encode())
    return d


def read_checkpoint(directory: str | Path) -> dict:
    """Verify and read a checkpoint folder; raises :class:`CheckpointError` with the reason on any damage.

    Returns ``{"meta", "model", "optimizer", "rng", "buffers": {name: arrays}}`` (tensors on CPU)."""
    d = Path(directory)
    if not (d / META).is_file():
        raise CheckpointError(f"{d}: not a checkpoint (no {META})")
    try:
        meta = json.loads((d / META).read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{d / META} is corrupted (not valid JSON: {e})") from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION or "files" not in meta:
        raise CheckpointError(f"{d / META}: unknown checkpoint format (expected format_version {FORMAT_VERSION})")
    rev = meta.get("contract_revision", 1)  # checkpoints before revisions were recorded: revision 1
    if rev != CONTRACT_REVISION:
        raise CheckpointError(
            f"{d}: trained against contract revision {rev} ({REVISION_HISTORY.get(rev, 'unknown to this build')}); "
            f"this build speaks revision {CONTRACT_REVISION} ({REVISION_HISTORY[CONTRACT_REVISION]}): its policy "
            f"would misread the observations, retrain it")
    raw: dict[str, bytes] = {}
    for name, digest in meta["files"].items():
        p = d / name
        if not p.is_file():
            raise CheckpointError(f"{p} is missing from the checkpoint")
        data = p.read_bytes()
        if _sha256(data) != digest:
            raise CheckpointError(f"{p} is corrupted (SHA-256 does not match the one recorded in {META})")
        raw[name] = data
    try:
        out = {"meta": meta, "model": st_load(raw["model.safetensors"]),
               "optimizer": st_load(raw["optimizer.safetensors"]), "rng": st_load(raw["rng.safetensors"]),
               "buffers": {}}
        for name, data in raw.items():
            if name.endswith(".npz"):
                with np.load(io.BytesIO(data), allow_pickle=False) as z:
                    out["buffers"][name[:-4]] = {k: z[k] for k in z.files}
    except (KeyError, ValueError, OSError, RuntimeError) as e:
        raise CheckpointError(f"{d}: cannot decode checkpoint ({type(e).__name__}: {e})") from None
    return out


def restore_rng(rng_tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(rng_tensors["torch_cpu"])
    cuda = [rng_tensors[k] for k in sorted(rng_tensors) if k.startswith("torch_cuda")]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save_training(directory: str | Path, algo, buffers: dict, meta: dict) -> Path:
    """A training checkpoint of an algorithm (networks + optimiser), its buffers and ``meta``."""
    return save_checkpoint(directory, model=algo, optimizer=algo.optimizer, buffers=buffers, meta=meta)


def restore_training(directory: str | Path, algo, buffers: dict, where: str = "") -> dict:
    """Load a :func:`save_training` checkpoint into ``algo`` and ``buffers`` (same configuration), restore the
    torch RNG, and return its meta. :class:`CheckpointError` for damage or a configuration mismatch."""
    ck = read_checkpoint(directory)
    meta = ck["meta"]
    try:
        algo.load_state_dict(ck["model"])
        optimizer_from_tensors(algo.optimizer, ck["optimizer"], meta["optimizer"])
        for name, buf in buffers.items():
            buf.load_arrays(ck["buffers"][name])
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"{where or directory}: checkpoint does not match this configuration ({e})") from None
    restore_rng(ck["rng"])
    return meta


def _generations(folder: Path) -> tuple[Path, Path, Path]:
    folder = Path(folder)
    return folder.with_name(folder.name + ".new"), folder, folder.with_name(folder.name + ".prev")


def has_checkpoint(folder: str | Path) -> bool:
    """Whether any generation of a :func:`save_rotating` checkpoint is there."""
    return any((d / META).is_file() for d in _generations(Path(folder)))


def save_rotating(folder: str | Path, algo, buffers: dict, meta: dict) -> Path:
    """Two generations: ``folder`` (the newest) and ``folder.prev`` (the one before). The new one is written to
    ``folder.new`` and renamed into place afterwards, so a process killed at any moment leaves a complete
    generation behind, and a damaged newest one still has the previous one to fall back on."""
    new, cur, prev = _generations(Path(folder))
    if new.exists():
        shutil.rmtree(new)
    save_training(new, algo, buffers, meta)
    if cur.exists():
        if prev.exists():
            shutil.rmtree(prev)
        os.replace(cur, prev)
    os.replace(new, cur)
    fd = os.open(cur.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the renames are durable too
    finally:
        os.close(fd)
    return cur


def restore_newest(folder: str | Path, algo, buffers: dict, where: str = "", on_skip=None) -> tuple[dict, Path]:
    """Restore the newest readable generation of a :func:`save_rotating` checkpoint: (its meta, its folder).
    ``on_skip(message)`` is told of each damaged one passed over; :class:`CheckpointError` (all the reasons, one
    line) when none is usable."""
    reasons = []
    for d in _generations(Path(folder)):
        if not (d / META).is_file():
            continue
        try:
            return restore_training(d, algo, buffers, where), d
        except CheckpointError as e:
            reasons.append(str(e))
            if on_skip is not None:
                on_skip(str(e))
    raise CheckpointError("; ".join(reasons) if reasons else f"{folder}: not a checkpoint (no {META})")

