import pytest


@pytest.fixture
def database():
    raise ConnectionError("database is not reachable on localhost:5432")
