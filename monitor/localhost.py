"""Loopback ports for the local services the product starts (broker, chain, test servers)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class PortTimeout(RuntimeError):
    """Nothing accepted connections on a port in time."""


def free_port() -> int:
    """A free loopback TCP port from the kernel, so parallel runs never collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Block until host:port accepts TCP connections, or raise PortTimeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise PortTimeout(f"nothing listens on {host}:{port} after {timeout:.0f}s")


@dataclass
class LoopbackProcess:
    """A child process serving on a loopback port: what the local broker and chain share."""

    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    log_path: Path | None = None  # where its output goes; discarded when None
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """host:port, the part of every URL it serves."""
        return f"{self.host}:{self.port}"
