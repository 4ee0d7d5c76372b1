"""Debian's Alertmanager (`prometheus-alertmanager`, installed by scripts/setup.sh --test) on
127.0.0.1, clustering off, routing every alert to one webhook receiver."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from monitor.localhost import free_port, wait_for_port

DEPLOY_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "alertmanager" / \
    "alertmanager.yml"


def binary() -> str:
    """The Alertmanager executable."""
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or \
        "/usr/bin/prometheus-alertmanager"


@contextmanager
def running_alertmanager(workdir: Path, webhook_url: str,
                         route: dict[str, Any] | None = None) -> Iterator[str]:
    """Alertmanager for the with-block, its route `route` (the shipped deploy config's by
    default) sending to `webhook_url`; yields its base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    shipped = yaml.safe_load(DEPLOY_CONFIG.read_text())
    config = {"route": {**shipped["route"], **(route or {}), "receiver": "hook"},
              "receivers": [{"name": "hook", "webhook_configs": [
                  {"url": webhook_url, "send_resolved": True}]}]}
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    with (workdir / "alertmanager.log").open("wb") as log:
        process = subprocess.Popen(
            [binary(), f"--config.file={path}", f"--storage.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", port, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
