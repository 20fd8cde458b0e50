"""robot-rl doctor"""


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="check this machine: Python, torch, rclpy/RMW, MuJoCo + GL, RealSense")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=lambda a: __import__("robot_rl.tools.doctor", fromlist=["main"]).main(as_json=a.json))
