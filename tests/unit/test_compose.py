"""docker-compose.yml agrees with the application and with deploy/: one scalable worker service
(environment the worker reads, web port, data volume, health check), the topics it creates, the
proxy publishing the web view, Prometheus finding the workers by DNS and alerting the compose
Alertmanager, and every mount and volume present. Nothing is run: there is no Docker here."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import Settings, load_settings
from monitor.wire import CASCADES, DEAD_LETTERS, DEPTH, POSITIONS, PRICES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ENV_VARIABLES = {*Settings().to_env(), "MONITOR_CONFIG"}
LONG_RUNNING = {"kafka", "worker", "web", "prometheus", "alertmanager", "grafana"}


def interpolated(text: str) -> str:
    """Compose's variable interpolation with every variable unset (defaults apply)."""
    text = re.sub(r"(?<!\$)\$\{\w+(?::-([^}]*))?\}", lambda m: m.group(1) or "", text)
    return text.replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yml as compose sees it with every variable at its default."""
    doc: dict[str, Any] = yaml.safe_load(interpolated((ROOT / "docker-compose.yml").read_text()))
    return doc


@pytest.fixture(scope="module")
def worker(compose: dict[str, Any]) -> Settings:
    """The settings every worker replica runs with."""
    return load_settings(environ=compose["services"]["worker"]["environment"])


def workers(doc: dict[str, Any]) -> list[str]:
    """The services that run `monitor worker`."""
    return [name for name, s in doc["services"].items() if s.get("command") == ["worker"]]


def test_one_worker_service_that_scales(compose: dict[str, Any], worker: Settings) -> None:
    assert workers(compose) == ["worker"]
    spec = compose["services"]["worker"]
    assert not {"ports", "container_name", "hostname"} & set(spec)  # replicas would collide
    assert "MONITOR_CANONICAL_URL" not in spec["environment"]  # each replica's is its own
    assert worker.web_host == "0.0.0.0"  # canonical URL: http://<container hostname>:port
    assert spec["expose"] == [str(worker.web_port)]
    assert (worker.broker, worker.broker_flavor) == ("kafka://kafka:9092", "kafka")
    assert worker.store == "rocksdb://"
    assert spec["volumes"] == [str(worker.data_dir)]  # anonymous: one store per replica
    probe = " ".join(spec["healthcheck"]["test"])
    assert f"http://127.0.0.1:{worker.web_port}/health/" in probe


def test_compose_sets_only_variables_the_worker_reads(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("MONITOR_"):
                assert variable in ENV_VARIABLES, f"{name}: {variable}"


def test_the_apps_public_topics_are_created_with_its_partitions(
        compose: dict[str, Any], worker: Settings) -> None:
    script = compose["services"]["topics"]["command"][0]
    topics = re.search(r"for topic in ([\w\s-]+?);", script)
    assert topics and set(topics.group(1).split()) == {POSITIONS, PRICES, DEPTH, CASCADES,
                                                       DEAD_LETTERS}
    assert f"--partitions {worker.partitions} " in script
    kafka = compose["services"]["kafka"]["environment"]
    assert int(kafka["KAFKA_NUM_PARTITIONS"]) == worker.partitions
    for name, service in compose["services"].items():
        if service.get("image", "").startswith("liquidation-monitor"):
            assert service["depends_on"]["topics"]["condition"] == \
                "service_completed_successfully", name


def test_the_proxy_publishes_one_web_port_over_every_worker(
        compose: dict[str, Any], worker: Settings) -> None:
    web = compose["services"]["web"]
    mounts = dict(v.split(":")[:2] for v in web["volumes"])
    conf = (DEPLOY / "proxy" / "nginx.conf").read_text()
    assert mounts["./deploy/proxy/nginx.conf"] == "/etc/nginx/nginx.conf"
    listen = re.search(r"^\s*listen (\d+);", conf, re.M)
    assert listen and web["ports"] == [f"{worker.web_port}:{listen.group(1)}"]
    assert re.search(rf"set \$workers http://worker:{worker.web_port};", conf)
    assert "proxy_pass $workers;" in conf  # a variable: re-resolved as replicas come and go
    assert re.search(r"resolver 127\.0\.0\.11 ", conf)  # Docker's DNS on the compose network


def test_prometheus_discovers_every_worker_by_dns(compose: dict[str, Any],
                                                  worker: Settings) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "monitor-worker")
    assert job["metrics_path"] == "/metrics" and "static_configs" not in job
    (sd,) = job["dns_sd_configs"]
    assert (sd["names"], sd["type"], sd["port"]) == (workers(compose), "A", worker.web_port)


def test_prometheus_alerts_the_compose_alertmanager(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [t for am in config["alerting"]["alertmanagers"]
               for sc in am["static_configs"] for t in sc["targets"]]
    alertmanager = compose["services"]["alertmanager"]
    assert targets == ["alertmanager:9093"] and "9093:9093" in alertmanager["ports"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in alertmanager["command"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in alertmanager["volumes"]
    binary = shutil.which("amtool") or "/usr/bin/amtool"
    config_file = DEPLOY / "alertmanager" / "alertmanager.yml"
    done = subprocess.run([binary, "check-config", str(config_file)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mounts_and_volumes_exist_and_long_running_services_are_checked(
        compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        build = service.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source}"
            elif ":" in volume:
                assert source in declared, f"{name}: {source}"
            else:
                assert name == "worker", f"{name}: anonymous volume {volume}"
        assert ("healthcheck" in service) == (name in LONG_RUNNING), name
    assert "${RPC_URL" in " ".join(yaml.safe_load(
        (ROOT / "docker-compose.yml").read_text())["services"]["ingester"]["command"])


def test_grafana_points_at_the_compose_prometheus(compose: dict[str, Any]) -> None:
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    assert "9090:9090" in compose["services"]["prometheus"]["ports"]
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/liquidations.yml").read_text())["providers"][0]
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
