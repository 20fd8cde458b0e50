"""``robot-rl validate policies RUN...``: does a policy that wins in the twin also win on the robot?

Each trained run (a ``robot-rl train`` folder: its ``checkpoint/``) is evaluated, deterministically, on the same
episodes (seeds) in the twin -- with its nominal dynamics and with each identified-parameters YAML given
(``robot-rl calibrate twin``) -- and on the stand-in for the robot: franky-sim through the real Franka driver
(:mod:`robot_rl.tools.validate.franky_link`). The report is each policy's success on every side and, per twin
variant, how well the twin ranks the policies (:mod:`robot_rl.tools.validate.ranking`: Pearson r, Kendall tau,
MMRV), as JSON plus a scatter plot.

Both sides hold the gripper open whatever the policy asks (a pylibfranka gripper move stalls the driver's 1 kHz
loop, DESIGN.md); for ``reach`` the gripper only enters the observation.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

VALIDATION_SEED_OFFSET = 2_000_000  # disjoint from training (random), demos and the trainer's eval seeds (1e6+)


class ValidationError(ValueError):
    """A run that cannot be validated (one line)."""


@dataclass(frozen=True)
class PolicyRun:
    path: str
    task: str
    seed: int
    env_steps: int
    policy: object  # robot_rl.learning.policy.Policy
    discrete_gripper: bool

    def act(self, obs) -> np.ndarray:
        return self.policy.act(obs, deterministic=True)


def load_run(run_dir: str | Path) -> PolicyRun:
    """The deterministic policy of a ``robot-rl train`` run folder, built from its checkpoint (CPU)."""
    from robot_rl.contract.arm import ACTION_DIM, state_dim_for
    from robot_rl.learning.checkpoint import CheckpointError, read_checkpoint
    from robot_rl.learning.config import TrainConfig, algo_of, from_dict
    from robot_rl.learning.sac import SAC
    from robot_rl.tools.validate.franky_link import VALIDATABLE_TASKS

    d = Path(run_dir)
    try:
        ck = read_checkpoint(d / "checkpoint")
        cfg = from_dict(TrainConfig, ck["meta"]["config"])
    except CheckpointError as e:
        raise ValidationError(str(e)) from None
    except (KeyError, TypeError, ValueError) as e:
        raise ValidationError(f"{d}: checkpoint config unreadable ({e})") from None
    if cfg.env or cfg.task not in VALIDATABLE_TASKS:
        raise ValidationError(f"{d}: trained on {cfg.env or cfg.task!r}; the robot stand-in can validate "
                              f"{', '.join(VALIDATABLE_TASKS)} only (franky-sim has no task objects)")
    if cfg.pixels:
        raise ValidationError(f"{d}: a pixel policy; franky-sim has no cameras (validate state policies)")
    spec = {"state": ((state_dim_for(cfg.task),), np.dtype(np.float32))}
    agent = SAC(spec, ACTION_DIM, dataclasses.replace(algo_of(cfg), device="cpu"), device="cpu")
    try:
        agent.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise ValidationError(f"{d}: weights do not fit a {cfg.task} state policy ({str(e).splitlines()[0]})") \
            from None
    return PolicyRun(str(d), cfg.task, cfg.seed, int(ck["meta"].get("step", 0)), agent.policy.eval(),
                     cfg.sac.discrete_gripper)


class HoldGripperOpen(gym.ActionWrapper):
    """Whatever the policy commands, the gripper stays open (command -1: closedness 0)."""

    def action(self, action):
        a = np.array(action, dtype=np.float32, copy=True)
        a[6] = -1.0
        return a


def for_policy(env, run: PolicyRun):
    """``env`` as the policy saw it in training (hybrid gripper if it was), gripper held open."""
    from robot_rl.envs.wrappers import DiscreteGripper

    env = HoldGripperOpen(env)
    return DiscreteGripper(env) if run.discrete_gripper else env


def run_episodes(env, run: PolicyRun, seeds, before_reset=None, after_reset=None, after_episode=None) -> dict:
    """Deterministic episodes on ``seeds``: success rate, per-episode success and length. The hooks get the seed
    (``after_episode``: the seed and the episode's success)."""
    successes, lengths = [], []
    for seed in seeds:
        if before_reset is not None:
            before_reset(int(seed))
        obs, _ = env.reset(seed=int(seed))
        if after_reset is not None:
            after_reset(int(seed))
        n, success = 0, False
        while True:
            obs, _, term, trunc, info = env.step(run.act(obs))
            n += 1
            success = success or bool(info.get("success"))
            if term or trunc:
                break
        successes.append(bool(success))
        lengths.append(n)
        if after_episode is not None:
            after_episode(int(seed), bool(success))
    return {"success_rate": float(np.mean(successes)), "successes": successes, "episode_steps": lengths}


def twin_success(runs: list[PolicyRun], seeds, dynamics=None, say=print) -> list[dict]:
    from robot_rl.sim.arm_env import EnvConfig, TwinArmEnv
    from robot_rl.sim.arm_twin import TwinConfig
    from robot_rl.sim.twin_dynamics import TwinDynamics, apply_dynamics

    twin_cfg = apply_dynamics(TwinConfig(), dynamics or TwinDynamics())
    out = []
    for run in runs:
        env = TwinArmEnv(run.task, EnvConfig(twin=twin_cfg))
        t0 = time.perf_counter()
        res = run_episodes(for_policy(env, run), run, seeds)
        env.close()
        say(f"  twin: {Path(run.path).name}: {100 * res['success_rate']:.0f} % ({time.perf_counter() - t0:.0f} s)")
        out.append(res)
    return out


def _checkpoint_identity(run: PolicyRun) -> list:
    """What says a run's checkpoint is the same one: its files' names, sizes and modification times."""
    d = Path(run.path) / "checkpoint"
    return sorted([f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in d.iterdir() if f.is_file())


def _franky_key(run: PolicyRun, seeds) -> dict:
    return {"run": str(Path(run.path).resolve()), "checkpoint": _checkpoint_identity(run),
            "seeds": [int(x) for x in seeds]}


def _cached_franky(cache_dir: Path | None, i: int, run: PolicyRun, seeds) -> tuple[Path | None, dict | None]:
    """(cache file, its franky-sim result when it was the same checkpoint on the same episodes, else None)."""
    import json

    if cache_dir is None:
        return None, None
    path = Path(cache_dir) / f"{i:02d}_{Path(run.path).name}.json"
    try:
        got = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        got = None
    ok = isinstance(got, dict) and got.get("key") == _franky_key(run, seeds) and isinstance(got.get("result"), dict)
    return path, (got["result"] if ok else None)


def _episode_logging(arm, link, run: PolicyRun, log_dir: Path) -> dict:
    """``run_episodes`` hooks that record each franky-sim episode (after its reset) to ``log_dir``."""
    from robot_rl.tools.validate.franky_record import EpisodeRecorder
    from robot_rl.tools.validate.log_writer import write_arm_log

    rec = EpisodeRecorder(arm)
    link.on_target = rec.target

    def done(seed: int, success: bool) -> None:
        log = rec.stop({"kind": "policy", "run": str(run.path), "seed": seed, "success": success,
                        "goal_m": [float(v) for v in link.goal]})
        if log is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            write_arm_log(log_dir / f"{Path(run.path).name}_ep{seed}.mcap", log)

    return {"after_reset": lambda seed: rec.start(), "after_episode": done}


def franky_success(runs: list[PolicyRun], seeds, host: str = "127.0.0.1", say=print,
                   cache_dir: str | Path | None = None, log_dir: str | Path | None = None) -> list[dict]:
    """The runs on franky-sim through the real driver, one server and one driver connection for all of them.

    With ``cache_dir`` each policy's result is written there as it finishes and reused by a later call for the same
    checkpoint and episodes: a validation that dies part way keeps the policies it finished (franky-sim is the
    slow side), and one whose policies are all cached starts no simulator. With ``log_dir`` every episode run is
    also written as an arm log, ``<run name>_ep<seed>.mcap`` (what ``robot-rl calibrate twin`` and ``validate replay``
    read): the policy's own motions on the robot, from the settled start pose."""
    import json
    from dataclasses import replace

    from robot_rl.io import atomic_write_bytes

    cached = [_cached_franky(cache_dir, i, r, seeds) for i, r in enumerate(runs)]
    for (_, res), run in zip(cached, runs):
        if res is not None:
            say(f"  franky-sim: {Path(run.path).name}: {100 * res['success_rate']:.0f} % (cached)")
    if all(res is not None for _, res in cached):
        return [res for _, res in cached]

    from robot_rl.drivers.franka import FrankaArm, FrankaArmConfig, ResetMotionConfig
    from robot_rl.drivers.franky_sim_peer import FrankySimServer
    from robot_rl.envs.ros_env import RosArmEnv, RosEnvConfig
    from robot_rl.sim.arm_env import DOWN
    from robot_rl.sim.arm_twin import ArmTwin
    from robot_rl.sim.tasks import make_task
    from robot_rl.tools.validate.franky_link import FrankyTaskLink
    from robot_rl.tools.validate.franky_record import FRANKY_SIM_START_Q

    ik = ArmTwin()  # the twin's kinematics place the driver's reset where the twin's reset places the twin

    def reset_q_for(pos):
        return ik.solve_ik(pos, DOWN)

    out = []
    with FrankySimServer(host, start_timeout_s=60.0) as srv:
        cfg = replace(FrankaArmConfig(robot_ip=srv.host, realtime="ignore"),
                      reset=ResetMotionConfig(q_rad=FRANKY_SIM_START_Q), nullspace_q_rad=tuple(ik.home_q))
        with FrankaArm(cfg) as arm:
            deadline = time.monotonic() + 10.0
            while arm.snapshot() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            if arm.snapshot() is None:
                raise RuntimeError("franky-sim: the driver's loop produced no state within 10 s")
            arm.command_gripper(0.0)  # open once, before any episode (a move stalls the loop while it runs)
            time.sleep(1.0)
            for run, (path, res) in zip(runs, cached):
                if res is not None:
                    out.append(res)
                    continue
                link = FrankyTaskLink(arm, make_task(run.task).cfg, DOWN, reset_q_for)
                env = RosArmEnv(link, RosEnvConfig(task=run.task), clock=link.clock, sleep=link.sleep)
                t0 = time.perf_counter()
                hooks = {} if log_dir is None else _episode_logging(arm, link, run, Path(log_dir))
                res = run_episodes(for_policy(env, run), run, seeds, before_reset=link.begin_episode, **hooks)
                say(f"  franky-sim: {Path(run.path).name}: {100 * res['success_rate']:.0f} % "
                    f"({time.perf_counter() - t0:.0f} s)")
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    atomic_write_bytes(path, json.dumps({"key": _franky_key(run, seeds), "result": res}).encode())
                out.append(res)
    return out


def real_from_file(path, runs: list[PolicyRun], seeds) -> list[dict]:
    """The robot side of an earlier ``validate_policies.json`` (the robot's time is what costs: re-judging the
    twin after a new identification needs no new robot episodes); refused unless runs and seeds are the same."""
    import json

    p = Path(path)
    try:
        old = json.loads(p.read_text())
        rows, old_seeds = old["policies"], old["seeds"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValidationError(f"{p}: not a validate_policies.json ({e})") from None
    if [r["run"] for r in rows] != [r.path for r in runs] or old_seeds != [seeds[0], seeds[-1]] \
            or any(len(r["real_successes"]) != len(seeds) for r in rows):
        raise ValidationError(f"{p}: its runs or episodes differ from these (same RUN list and --episodes needed)")
    return [{"success_rate": float(np.mean(r["real_successes"])), "successes": r["real_successes"]} for r in rows]


def validate_policies(run_dirs, episodes: int = 10, dynamics_files=(), host: str = "127.0.0.1",
                      say=print, real_results: str = "", cache_dir: str | Path | None = None,
                      log_dir: str | Path | None = None) -> dict:
    """The whole comparison (see the module doc); every run and YAML is checked before anything is evaluated."""
    from robot_rl.sim.twin_dynamics import load_dynamics
    from robot_rl.tools.validate.ranking import ranking_figures, ranking_intervals

    if episodes < 1:
        raise ValidationError(f"episodes must be >= 1, got {episodes}")
    runs = [load_run(d) for d in run_dirs]
    if len(runs) < 2:
        raise ValidationError("ranking needs at least 2 runs")
    variants = {"nominal": None, **{Path(p).stem: load_dynamics(p) for p in dynamics_files}}
    seeds = [VALIDATION_SEED_OFFSET + i for i in range(episodes)]
    twin = {}
    for name, dyn in variants.items():
        say(f"twin ({name} dynamics): {len(runs)} policies x {episodes} episodes")
        twin[name] = twin_success(runs, seeds, dyn, say)
    t0 = time.perf_counter()
    if real_results:
        say(f"franky-sim results from {real_results}")
        real = real_from_file(real_results, runs, seeds)
    else:
        say(f"franky-sim through the Franka driver: {len(runs)} policies x {episodes} episodes")
        real = franky_success(runs, seeds, host, say, cache_dir=cache_dir, log_dir=log_dir)
    real_rates = [r["success_rate"] for r in real]
    return {
        "task": runs[0].task, "episodes": episodes, "seeds": [seeds[0], seeds[-1]],
        "franky_wall_s": round(time.perf_counter() - t0, 1),
        "policies": [{"run": r.path, "train_seed": r.seed, "env_steps": r.env_steps,
                      "real_success": real_rates[i],
                      **{f"twin_{k}_success": twin[k][i]["success_rate"] for k in variants},
                      "real_successes": real[i]["successes"],
                      **{f"twin_{k}_successes": twin[k][i]["successes"] for k in variants}}
                     for i, r in enumerate(runs)],
        "ranking": {k: {**ranking_figures(real_rates, [x["success_rate"] for x in twin[k]]),
                        **ranking_intervals([r["successes"] for r in real], [x["successes"] for x in twin[k]])}
                    for k in variants},
        "dynamics_files": {Path(p).stem: str(p) for p in dynamics_files},
    }


def scatter_png(path: str | Path, result: dict) -> Path:
    """Twin vs real success, one marker per policy and twin variant, with the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="0.7", lw=1)
    real = [x["real_success"] for x in result["policies"]]
    for k, fig_k in result["ranking"].items():
        twin = [x[f"twin_{k}_success"] for x in result["policies"]]
        r = "n/a" if fig_k["pearson_r"] is None else f"{fig_k['pearson_r']:.2f}"
        ax.scatter(twin, real, label=f"twin {k}: r {r}, MMRV {fig_k['mmrv']:.2f}", alpha=0.7)
    for x in result["policies"]:
        ax.annotate(Path(x["run"]).name, (x["twin_nominal_success"], x["real_success"]),
                    fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("twin success")
    ax.set_ylabel("franky-sim (real stand-in) success")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"{result['task']}: {len(real)} policies x {result['episodes']} episodes")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p


def policies_cmd(a) -> int:
    import json

    say = (lambda s: print(s, file=sys.stderr, flush=True)) if a.json else (lambda s: print(s, flush=True))
    res = validate_policies(a.runs, a.episodes, a.dynamics, a.host, say, real_results=a.real_results,
                            cache_dir=Path(a.out) / "franky_episodes" if a.out else None,
                            log_dir=a.record_logs or None)
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        res["png"] = str(scatter_png(out / "twin_vs_real.png", res))
        from robot_rl.io import atomic_write_bytes

        atomic_write_bytes(out / "validate_policies.json", json.dumps(res, indent=1).encode())
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        for x in res["policies"]:
            twins = ", ".join(f"twin {k} {100 * x[f'twin_{k}_success']:.0f} %" for k in res["ranking"])
            say(f"{x['run']} (seed {x['train_seed']}, {x['env_steps']} steps): real {100 * x['real_success']:.0f} %, "
                f"{twins}")
        for k, f in res["ranking"].items():
            say(f"twin {k}: Pearson {f['pearson_r']} (95 % CI {f['pearson_r_ci']}), Kendall tau {f['kendall_tau']} "
                f"(CI {f['kendall_tau_ci']}), MMRV {f['mmrv']:.3f} (CI {f['mmrv_ci']})")
    return 0


def add_policies_parser(vs) -> None:
    p = vs.add_parser("policies", help="rank trained runs in the twin and on franky-sim: Pearson, Kendall, MMRV")
    p.add_argument("runs", nargs="+", metavar="RUN", help="robot-rl train run folders (with checkpoint/)")
    p.add_argument("--episodes", type=int, default=10, help="paired episodes (same seeds) per policy and side")
    p.add_argument("--dynamics", nargs="*", default=[], metavar="YAML",
                   help="identified-parameters YAMLs (robot-rl calibrate twin): the twin is also run with each")
    p.add_argument("--host", default="127.0.0.1", help="loopback address franky-sim listens on")
    p.add_argument("--out", default="", help="folder for validate_policies.json and twin_vs_real.png; each "
                   "policy's franky-sim episodes are kept in its franky_episodes/ as they finish and reused by a rerun")
    p.add_argument("--real-results", default="", metavar="JSON",
                   help="take the franky-sim side from an earlier validate_policies.json (same runs, --episodes)")
    p.add_argument("--record-logs", default="", metavar="DIR",
                   help="also write each franky-sim episode run as an arm log (MCAP) there, for calibrate twin / "
                   "validate replay (policies reused from franky_episodes/ are not re-run)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (progress on stderr)")
    p.set_defaults(func=policies_cmd)
