"""A pytest plugin with the per-test hooks pytestmon's plugin has and nothing in them: one
pytest_runtest_logstart and one pytest_runtest_logreport (four calls a test). bench/run.py runs
bare `pytest -q` with it, variant (e): what pytest's hook calls alone cost, the floor under any
plugin that hears of each test, measured side by side with the others."""
import pytest


class Null:
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid, location):
        pass

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report):
        pass


def pytest_configure(config):
    config.pluginmanager.register(Null(), "bench-null")
