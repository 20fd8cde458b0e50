"""The learner's two checkpoint generations: a damaged or half-written newest one falls back to the one before,
and nothing the actors may have forgotten is lost with it; malformed transitions never reach the replay."""
import shutil

import numpy as np
import pytest

pytest.importorskip("mujoco")

from robot_rl.learning.checkpoint import CheckpointError  # noqa: E402
from robot_rl.learning.config import ReplayConfig, SACConfig  # noqa: E402
from robot_rl.runtime.learner_core import LearnerConfig, LearnerCore  # noqa: E402
from robot_rl.runtime.wire import Transition  # noqa: E402

CFG = LearnerConfig(task="reach", num_demos=0, replay=ReplayConfig(capacity_transitions=64),
                    sac=SACConfig(num_critics=2, hidden_width=32), device="cpu")


def _transitions(core, first, n, actor="a0"):
    dim = core.spec["state"][0][0]
    out = []
    for s in range(first, first + n):
        obs = {"state": np.full(dim, 0.01 * s, np.float32)}
        out.append(Transition(obs, np.zeros(core.action_dim, np.float32), 0.0, obs, False, False, actor_id=actor, seq=s))
    return out


def test_acks_count_a_transition_persisted_only_once_two_generations_hold_it(tmp_path):
    core = LearnerCore(CFG, tmp_path)
    core.ingest(_transitions(core, 1, 10))
    core.checkpoint()
    assert core.acks()["a0"] == (10, 0)  # in one generation only
    core.ingest(_transitions(core, 11, 5))
    core.checkpoint()
    assert core.acks()["a0"] == (15, 10)
    assert (tmp_path / "checkpoint").is_dir() and (tmp_path / "checkpoint.prev").is_dir()


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_generation(tmp_path):
    core = LearnerCore(CFG, tmp_path)
    core.ingest(_transitions(core, 1, 10))
    core.checkpoint()
    core.ingest(_transitions(core, 11, 5))
    core.checkpoint()
    data = bytearray((tmp_path / "checkpoint" / "online.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "checkpoint" / "online.npz").write_bytes(bytes(data))
    again = LearnerCore(CFG, tmp_path)
    assert again.resumed and again.resumed_from.name == "checkpoint.prev"
    assert len(again.skipped_checkpoints) == 1 and "online.npz is corrupted" in again.skipped_checkpoints[0]
    assert again.acks()["a0"] == (10, 0)  # the actor still holds 11..15 (persisted was acked as 10) and re-sends
    assert again.ingest(_transitions(again, 11, 5)) == 5 and again.online_received == 15


def test_a_checkpoint_cut_short_by_a_kill_leaves_the_previous_one_usable(tmp_path):
    core = LearnerCore(CFG, tmp_path)
    core.ingest(_transitions(core, 1, 4))
    core.checkpoint()
    # killed while writing the next one: a partial checkpoint.new, the complete one untouched
    shutil.copytree(tmp_path / "checkpoint", tmp_path / "checkpoint.new")
    (tmp_path / "checkpoint.new" / "model.safetensors").write_bytes(b"half")
    again = LearnerCore(CFG, tmp_path)
    assert again.resumed_from.name == "checkpoint" and again.acks()["a0"][0] == 4


def test_every_generation_damaged_is_one_clear_error(tmp_path):
    core = LearnerCore(CFG, tmp_path)
    core.ingest(_transitions(core, 1, 4))
    core.checkpoint()
    core.checkpoint()
    for g in ("checkpoint", "checkpoint.prev"):
        (tmp_path / g / "meta.json").write_text("{ not json")
    with pytest.raises(CheckpointError, match="meta.json is corrupted") as e:
        LearnerCore(CFG, tmp_path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("break_it,cause", [
    (lambda t: t.obs.update(state=t.obs["state"][:3]), "transition: observation does not fit"),
    (lambda t: t.obs.pop("state"), "transition: observation does not fit"),
    (lambda t: t.next_obs.update(state=np.full_like(t.obs["state"], np.nan)), "transition: observation not finite"),
    (lambda t: setattr(t, "action", np.full(7, 5.0, np.float32)), "transition: action not in [-1, 1]^n"),
    (lambda t: setattr(t, "reward", float("inf")), "transition: reward not finite"),
])
def test_a_malformed_transition_is_refused_before_its_sequence_number_counts(tmp_path, break_it, cause):
    core = LearnerCore(CFG, tmp_path)
    bad = _transitions(core, 1, 1)[0]
    bad.obs = dict(bad.obs)
    bad.next_obs = dict(bad.next_obs)
    break_it(bad)
    said = []
    assert core.ingest([bad], on_reject=lambda c, d: said.append(c)) == 0
    assert said == [cause] and "a0" not in core.inbox.received
    assert core.ingest(_transitions(core, 1, 1)) == 1  # the good seq 1 is still welcome
