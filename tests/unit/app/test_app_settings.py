"""Settings that reach faust's configuration of the app (nothing connects to a broker here)."""

import pytest

from streams.app.engine import create_app
from streams.settings import Settings


@pytest.mark.parametrize("standby", [0, 1, 2])
def test_standby_replicas_follow_the_setting(tmp_path, standby):
    app = create_app(Settings(standby_replicas=standby, data_dir=tmp_path))
    assert app.conf.table_standby_replicas == standby
