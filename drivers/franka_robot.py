"""The Franka connection side of the driver: the reachability probe (libfranka's Connect request), the
pylibfranka import, and the process-wide GIL switch interval the 1 kHz loop asks for."""
from __future__ import annotations

import socket
import struct
import sys
import threading
import time

from robot_rl.drivers.franka_config import (
    FRANKA_COMMAND_PORT,
    FRANKA_ROBOT_PROTOCOL_VERSION,
    FrankaConnectionError,
    FrankaError,
)

# sys.setswitchinterval is process-wide: the shortest interval asked for holds while any loop runs, and the
# interpreter's own value comes back when the last one stops.
_switch_lock = threading.Lock()
_switch_users: list[float] = []
_switch_original_s: float | None = None


def switch_interval_acquire(interval_s: float) -> None:
    global _switch_original_s
    with _switch_lock:
        if not _switch_users:
            _switch_original_s = sys.getswitchinterval()
        _switch_users.append(interval_s)
        sys.setswitchinterval(min(_switch_users))


def switch_interval_release(interval_s: float) -> None:
    with _switch_lock:
        if interval_s in _switch_users:
            _switch_users.remove(interval_s)
        sys.setswitchinterval(min(_switch_users) if _switch_users else _switch_original_s)



def probe_franka(host: str, port: int = FRANKA_COMMAND_PORT, timeout_s: float = 3.0,
                 header_fmt: str = "<III", version: int = FRANKA_ROBOT_PROTOCOL_VERSION) -> None:
    """Raise :class:`FrankaConnectionError` unless a Franka (robot, or gripper with ``port=1338``,
    ``header_fmt="<HII"``) answers libfranka's Connect request on ``host:port`` within ``timeout_s``.

    Why: libfranka's own connect blocks, holding the GIL, for minutes when something accepts TCP but never
    answers, and for its own timeout on an address where nothing is; this probe turns "no robot there" into a
    clear error within the timeout. The probe's connection is closed before libfranka connects (any answer,
    even "incompatible version", proves a Franka is there)."""
    where = f"{host}:{port}"
    hint = "Is the robot on, FCI enabled in Desk, and robot_ip right?"
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as e:
        raise FrankaConnectionError(f"no Franka at {where}: {e.strerror or e} (within {timeout_s:g} s). {hint}") from None
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a real port for the state stream the peer may start
    try:
        udp.bind(("", 0))
        sock.settimeout(timeout_s)
        hdr = struct.calcsize(header_fmt)
        payload = struct.pack("<HH", version, udp.getsockname()[1])
        sock.sendall(struct.pack(header_fmt, 0, 0, hdr + len(payload)) + payload)
        got = b""
        deadline = time.monotonic() + timeout_s
        while len(got) < hdr:
            sock.settimeout(max(1e-3, deadline - time.monotonic()))
            chunk = sock.recv(hdr - len(got))
            if not chunk:
                raise FrankaConnectionError(f"{where} closed the connection without answering the Franka Connect "
                                            f"request. {hint}")
            got += chunk
        command = struct.unpack(header_fmt, got)[0]
        if command != 0:
            raise FrankaConnectionError(f"{where} answered, but not with a Franka Connect response. {hint}")
    except (socket.timeout, TimeoutError):
        raise FrankaConnectionError(f"{where} accepted TCP but did not answer the Franka Connect request within "
                                    f"{timeout_s:g} s: not a Franka (or FCI is off). {hint}") from None
    except OSError as e:
        raise FrankaConnectionError(f"no Franka at {where}: {e.strerror or e}. {hint}") from None
    finally:
        sock.close()
        udp.close()


def import_pylibfranka():
    try:
        import pylibfranka
    except ImportError as e:  # pragma: no cover - depends on the install
        raise FrankaError(f"pylibfranka is not installed ({e}); pip install pylibfranka") from None
    return pylibfranka

