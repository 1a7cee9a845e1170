"""A demo instance on SQLite and its app, for the hostile-input and property tests."""

import pytest

from dropbox import config, create_app
from tests.helpers import make_instance


@pytest.fixture
def instance(tmp_path):
    return make_instance(tmp_path / "instance")


@pytest.fixture
def app(instance):
    app = create_app(config.load(instance))
    yield app
    app.extensions["sealdrop.engine"].dispose()
