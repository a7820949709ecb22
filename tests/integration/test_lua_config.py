"""Commands, options and their validation, as a user configuring the plugin sees them."""
import os

import pytest

COMMANDS = [
    "PytestRun", "PytestFile", "PytestNearest", "PytestLast", "PytestFailed", "PytestStop",
    "PytestOutput", "PytestSlowest", "PytestMemory", "PytestHistory",
]


def test_commands_exist(nvim):
    cmds = nvim.api.get_commands({})
    for name in COMMANDS:
        assert name in cmds, name
    assert cmds["PytestRun"]["nargs"] == "*"
    assert cmds["PytestSlowest"]["nargs"] == "?"


def test_double_load_is_guarded(nvim):
    nvim.command("delcommand PytestRun")
    nvim.command("runtime plugin/pytest.lua")
    assert "PytestRun" not in nvim.api.get_commands({})
    assert nvim.vars["loaded_pytest"] == 1


def test_modules_load_lazily(nvim, lua):
    loaded = lua("local t = {} for k in pairs(package.loaded) do if k:match('^pytest') then"
                 " table.insert(t, k) end end table.sort(t) return t")
    assert loaded == ["pytest.highlight"]


def test_works_without_setup(lua, repo_root):
    cfg = lua("return require('pytest.config').get()")
    assert cfg["timeout"] == 0
    # The co-process owns these defaults: unset here, and not sent unless the user sets them.
    for name in ("history_size", "sample_interval_ms", "watch_debounce_ms", "debug_attach_timeout_ms"):
        assert name not in cfg, name
    payload = lua("return require('pytest.client').configure_payload()")
    assert "history_size" not in payload and "sample_interval_ms" not in payload
    assert cfg["open_quickfix"] == "on_failure"
    assert cfg["diagnostics"] is True and cfg["notify"] is True
    assert cfg["bin"] == os.path.join(repo_root, "build", "pytestmon")
    assert cfg["log_dir"].endswith("/pytest")
    assert lua("return require('pytest').last()") is None
    assert lua("return require('pytest').statusline()") == ""


def test_log_dir_default_state_or_cache(lua):
    log_dir = lua("return require('pytest.config').get().log_dir")
    has08 = lua("return vim.fn.has('nvim-0.8') == 1")
    base = lua("return vim.fn.stdpath(...)", "state" if has08 else "cache")
    assert log_dir == base + "/pytest"


def test_env_bin_overrides(lua):
    lua("require('pytest').setup({ bin = '/opt/elsewhere/pytestmon' })")
    lua("vim.fn.setenv('PYTESTMON_BIN', '/from/env/pytestmon')")
    assert lua("return require('pytest.config').bin()") == "/from/env/pytestmon"
    lua("vim.fn.setenv('PYTESTMON_BIN', vim.NIL)")
    assert lua("return require('pytest.config').bin()") == "/opt/elsewhere/pytestmon"


@pytest.mark.parametrize(
    "opts, message",
    [
        ("{ foo = 1 }", "(pytest) unknown option 'foo'"),
        ("{ timeout = 'x' }", "(pytest) option 'timeout' must be number, got string"),
        ("{ notify = 1 }", "(pytest) option 'notify' must be boolean, got number"),
        ("{ args = '-x' }", "(pytest) option 'args' must be table, got string"),
        ("{ args = { 1 } }", "(pytest) option 'args' must be a list of strings, item 1 is number"),
        ("{ python = 3 }", "(pytest) option 'python' must be string or function, got number"),
        ("{ history_size = 0 }", "(pytest) option 'history_size' must be an integer from 1 to 1000"),
        ("{ history_size = 1e300 }", "(pytest) option 'history_size' must be an integer from 1 to 1000"),
        ("{ timeout = -1 }", "(pytest) option 'timeout' must be between 0 and 2592000 seconds"),
        ("{ timeout = 1e300 }", "(pytest) option 'timeout' must be between 0 and 2592000 seconds"),
        ("{ timeout = 0/0 }", "(pytest) option 'timeout' must be between 0 and 2592000 seconds"),
        # 1 ms made the co-process saturate a core sampling a large tree (#12 item 13).
        ("{ sample_interval_ms = 1 }",
         "(pytest) option 'sample_interval_ms' must be an integer from 20 to 60000"),
        ("{ sample_interval_ms = 1e19 }",
         "(pytest) option 'sample_interval_ms' must be an integer from 20 to 60000"),
        # An empty log_dir reached a read past a one-byte buffer in the co-process (#12 item 15).
        ("{ log_dir = '' }", "(pytest) option 'log_dir' must not be empty"),
        ("{ open_quickfix = 'sometimes' }",
         "(pytest) option 'open_quickfix' must be one of \"on_failure\", \"always\", \"never\", "
         "got \"sometimes\""),
        ("{ statusline = { 'cpu' } }",
         "(pytest) option 'statusline' item 1 must be one of \"result\", \"memory\", \"system\", "
         "\"warn\", \"watch\", got \"cpu\""),
        ("'x'", "(pytest) setup() expects a table, got string"),
    ],
)
def test_setup_validation_messages(lua, opts, message):
    ok, err = lua(f"return {{ pcall(require('pytest').setup, {opts}) }}")
    assert ok is False
    assert err == message


def test_setup_accepts_all_options(lua):
    lua("""require('pytest').setup({
        bin = '/x/pytestmon', python = '/usr/bin/python3', args = { '-q' }, env = { A = 'b' },
        timeout = 30, history_size = 3, sample_interval_ms = 50, statusline = { 'result' },
        diagnostics = false, open_quickfix = 'never', notify = false, log_dir = '/tmp/pytestmon-logs',
    })""")
    cfg = lua("return require('pytest.config').get()")
    assert cfg["timeout"] == 30 and cfg["args"] == ["-q"] and cfg["open_quickfix"] == "never"
    # A failed setup() leaves the previous configuration alone.
    lua("pcall(require('pytest').setup, { timeout = 'x' })")
    assert lua("return require('pytest.config').get().timeout") == 30


def test_highlight_groups_default_links(nvim, lua):
    for group in ["PytestPassed", "PytestFailed", "PytestWarn", "PytestSkipped", "PytestRunning"]:
        assert lua("return vim.fn.hlexists(...)", group) == 1
    target = lua("return vim.fn.synIDattr(vim.fn.synIDtrans(vim.fn.hlID('PytestFailed')), 'name')")
    assert target == lua("return vim.fn.synIDattr(vim.fn.synIDtrans(vim.fn.hlID('DiagnosticError')), 'name')")
    # default = true: a user's own definition wins, also after :colorscheme.
    nvim.command("highlight PytestPassed guifg=#00ff00")
    nvim.command("colorscheme default")
    nvim.command("highlight PytestPassed guifg=#00ff00")
    nvim.command("doautocmd ColorScheme")
    out = nvim.api.exec("highlight PytestPassed", True)
    assert "guifg=#00ff00" in out


def test_run_completion(nvim, lua, fixtures_dir):
    assert "--lf" in lua("return vim.fn.getcompletion('PytestRun --l', 'cmdline')")
    nvim.command("cd " + os.path.join(fixtures_dir, "proj_fail"))
    got = lua("return vim.fn.getcompletion('PytestRun test_b', 'cmdline')")
    assert "test_basic.py" in got


def test_split_args(lua):
    got = lua("return require('pytest.util').split_args(...)",
              r"""-k "a and not b" tests/sub/test_spaced\ name\ é.py 'x y' -x""")
    assert got == ["-k", "a and not b", "tests/sub/test_spaced name é.py", "x y", "-x"]
