"""pytestmon's pytest plugin as pytest loads it (``-p pytestmon_plugin``). PYTEST_DONT_REWRITE

The plugin is the package pytestmon_hooks, beside this file (its docstring, in __init__.py, is
the contract). It is imported from here the usual way so that Python's cached bytecode of it is
used (``make`` compiles it): pytest compiles a module named with ``-p`` itself, through its assertion
rewriter, and when bytecode may not be written (PYTHONDONTWRITEBYTECODE, a read-only
directory) it would do so at every run (~8 ms for the plugin).
"""
from pytestmon_hooks import pytest_configure, pytest_load_initial_conftests  # noqa: F401  (its module-level hooks)
