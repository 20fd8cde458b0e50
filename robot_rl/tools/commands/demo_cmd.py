"""robot-rl demo: the scripted expert in the twin."""


def _run(a) -> int:
    from robot_rl.tools.demo import run_demo

    s = run_demo(task=a.task, episodes=a.episodes, seed=a.seed, out_dir=a.out, video=not a.no_video)
    print(f"{s['task']}: expert success {s['successes']}/{s['episodes']} = {100 * s['success_rate']:.0f} % "
          f"({s['env_steps_per_s']:.0f} env steps/s)")
    for k in ("strip", "video"):
        if k in s:
            print(f"{k}: {s[k]}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the scripted expert in the twin; write a success figure, image strip, video")
    p.add_argument("--task", default="pick_cube", help="reach | pick_cube | peg_insert (default: pick_cube)")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--no-video", action="store_true", help="skip rendering the strip and the GIF")
    p.set_defaults(func=_run)
