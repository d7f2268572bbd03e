"""docker-compose.yml cannot run here (no Docker engine), so check that it agrees with the code."""

from pathlib import Path

import yaml

from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_exist_and_use_the_official_kafka_image():
    services = compose()["services"]
    assert {"kafka", "worker", "stations"} <= services.keys()
    assert services["kafka"]["image"].startswith("apache/kafka:4.")


def test_kafka_is_single_node_kraft_with_replication_one():
    env = compose()["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert int(env[key]) == 1, key
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in env["KAFKA_LISTENERS"]


def test_host_port_and_settings_agree_with_code_defaults():
    defaults = Settings()
    services = compose()["services"]
    assert f"127.0.0.1:{defaults.broker_port}:{defaults.broker_port}" in services["kafka"]["ports"]
    assert f"PLAINTEXT://127.0.0.1:{defaults.broker_port}" in \
        services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    worker_env = services["worker"]["environment"]
    # every TUNGGAL_ variable the file sets is one the settings object knows
    settings = Settings.from_env({k: str(v) for k, v in worker_env.items()})
    assert settings.web_port == defaults.web_port
    assert settings.partitions == defaults.partitions
    internal = worker_env["TUNGGAL_BROKER"]
    assert internal.split(":")[0] == "kafka"
    assert internal in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_containers_run_the_tunggal_command():
    services = compose()["services"]
    assert services["worker"]["command"][0] == "worker"
    assert services["stations"]["command"][0] == "simulate"
    assert "ENTRYPOINT [\"tunggal\"]" in (ROOT / "Dockerfile").read_text()
