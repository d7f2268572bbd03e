"""The real broker for integration tests: started once per test session by the project's own
broker code, on its own ports and data dir. If it cannot start, the tests fail (never skip)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streams.broker import local
from tests.integration.harness import Namespace, free_port


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> str:
    external = os.environ.get("TUNGGAL_TEST_BROKER")
    if external:
        yield external
        return
    data_dir = tmp_path_factory.mktemp("kafka")
    info = local.start(port=free_port(), controller_port=free_port(), data_dir=data_dir,
                       timeout=120, jvm_opts=local.FAST_START_JVM_OPTS)
    try:
        yield info.bootstrap
    finally:
        local.stop(data_dir)


@pytest.fixture
def ns(kafka: str, tmp_path: Path, request: pytest.FixtureRequest) -> Namespace:
    space = Namespace(bootstrap=kafka, workdir=tmp_path)
    yield space
    failed = getattr(request.node, "rep_call", None)
    space.stop_workers()
    if failed is not None and failed.failed:
        print(space.worker_logs())


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
