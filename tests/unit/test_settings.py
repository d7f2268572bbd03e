from pathlib import Path

import pytest

from streams.errors import ConfigError
from streams.settings import Settings


def test_defaults_use_the_contract_topic_names_and_local_broker():
    s = Settings.from_env({})
    assert (s.topics.enrollments, s.topics.dlq, s.topics.verdicts, s.topics.adjudications) == (
        "enrollments", "enrollments-dlq", "verdicts", "adjudications")
    assert s.bootstrap == "127.0.0.1:9092" and s.web_host == "127.0.0.1"


def test_environment_is_read_and_typed_and_options_win():
    s = Settings.from_env({"TUNGGAL_BROKER": "k1:9092,k2:9092", "TUNGGAL_PARTITIONS": "8",
                           "TUNGGAL_DATA_DIR": "/x", "PATH": "/bin"}, partitions=2)
    assert s.bootstrap == "k1:9092,k2:9092" and s.partitions == 2 and s.data_dir == Path("/x")
    assert Settings.from_env({}).standby_replicas == 1
    assert Settings.from_env({"TUNGGAL_STANDBY_REPLICAS": "0"}).standby_replicas == 0


@pytest.mark.parametrize("env", [{"TUNGGAL_PARTITIONS": "many"}, {"TUNGGAL_PARTITIONS": "0"},
                                 {"TUNGGAL_PARTITONS": "4"}, {"TUNGGAL_BROKER": "nohostport"},
                                 {"TUNGGAL_WEB_PORT": "70000"}, {"TUNGGAL_SESSION_TIMEOUT": "3"},
                                 {"TUNGGAL_STALL_TIMEOUT": "-1"}, {"TUNGGAL_PREPARED_CACHE": "0"},
                                 {"TUNGGAL_BATCH_SIZE": "0"}, {"TUNGGAL_BATCH_WAIT": "0"},
                                 {"TUNGGAL_BATCH_WAIT": "5"}, {"TUNGGAL_STANDBY_REPLICAS": "-1"}])
def test_bad_settings_are_config_errors(env):
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().partitions = 3  # type: ignore[misc]
