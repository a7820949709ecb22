"""doc/pytest.txt documents everything a user can touch, and `:helptags` accepts it."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import NVIM, REPO_ROOT

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "doc", "pytest.txt")


@pytest.fixture(scope="module")
def doc_tags():
    text = open(DOC, encoding="utf-8").read()
    return set(re.findall(r"\*([^*\s|]+)\*", text)), text


def test_header(doc_tags):
    _, text = doc_tags
    assert text.startswith("*pytest.txt*")
    assert text.rstrip().endswith("vim:tw=78:ts=8:noet:ft=help:norl:")


def test_every_command_has_a_tag(nvim, doc_tags):
    tags, _ = doc_tags
    commands = [c for c in nvim.api.get_commands({}) if c.startswith("Pytest")]
    assert len(commands) == 14  # :PytestWatch, :PytestDebug, :PytestCoverage (#16): 11th to 13th; :PytestSummary (#15)
    missing = [c for c in commands if ":" + c not in tags]
    assert missing == []


def test_every_option_has_a_tag(lua, doc_tags):
    tags, text = doc_tags
    options = lua("return require('pytest.config').option_names")
    assert "open_quickfix" in options
    missing = [o for o in options if "pytest-" + o not in tags]
    assert missing == []
    # ...and appears in the defaults block.
    assert [o for o in options if f"      {o} = " not in text] == []


def test_every_lua_function_has_a_tag(lua, doc_tags):
    tags, _ = doc_tags
    funcs = lua("local t = {} for k, v in pairs(require('pytest')) do"
                " if type(v) == 'function' and not k:match('^_') then table.insert(t, k) end end"
                " table.sort(t) return t")
    assert "last" in funcs and "statusline" in funcs
    missing = [f for f in funcs if f"pytest.{f}()" not in tags]
    assert missing == []


def test_highlights_and_events_have_tags(lua, doc_tags):
    tags, text = doc_tags
    groups = lua("return require('pytest.highlight').names")
    assert [g for g in groups if g not in tags] == []
    assert {"PytestStarted", "PytestFinished", "PytestStatus"} <= tags
    assert "pytest-statusline-component" in tags
    assert "lualine" in text


def test_helptags_clean(nvim, tmp_path):
    docdir = tmp_path / "doc"
    docdir.mkdir()
    shutil.copy(DOC, docdir / "pytest.txt")
    nvim.command("helptags " + str(docdir))  # raises on E154 duplicate tag etc.
    tags = (docdir / "tags").read_text().splitlines()
    assert any(l.startswith(":PytestRun\t") for l in tags)
    nvim.command("set rtp^=" + str(tmp_path))
    nvim.command("help :PytestNearest")
    assert nvim.current.buffer.name.endswith("pytest.txt")


README = os.path.join(os.path.dirname(DOC), "..", "README.md")


def test_readme_setup_commands_first_and_every_option(lua):
    text = open(README, encoding="utf-8").read()
    first_block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    assert first_block == (
        "make demo    # installs missing Debian packages, builds, runs the example project\n"
        "make test    # installs, builds, runs every test suite (nvim 0.7, 0.10, 0.12; pytest 7.2, 8.3, 9.1)\n"
    )
    config = text.split('require("pytest").setup({\n', 1)[1].split("})", 1)[0]
    options = lua("return require('pytest.config').option_names")
    assert [o for o in options if f"\n  {o} = " not in "\n" + config] == []
    for target in ("sanitize", "valgrind", "fuzz", "bench", "soak"):
        assert f"`make {target}`" in text
    assert 'build = "make"' in text and "lualine" in text and "statusline=" in text


def test_help_works_after_plain_package_install(tmp_path, repo_root):
    """README's plain-package steps: the plugin in a pack/*/start directory, `make` there,
    then `:help :PytestRun` works (Neovim makes no help tags for such packages by itself).
    `make` uses the nvim on PATH: the one under test."""
    site = tmp_path / "site"
    plugin = site / "pack" / "plugins" / "start" / "pytestmon"
    shutil.copytree(repo_root, plugin, ignore=shutil.ignore_patterns(
        "build", ".git", "__pycache__", ".pytest_cache", "tags"))
    nvim_bin = os.path.abspath(shutil.which(NVIM) or NVIM)
    # A user's plain shell: nothing of a surrounding make (under `make sanitize` BUILD, SAN, ...
    # are in the environment).
    env = {"PATH": os.path.dirname(nvim_bin) + os.pathsep + os.environ["PATH"],
           "HOME": os.environ.get("HOME", str(tmp_path))}
    # Without nvim the co-process still builds, and make says how to get the tags.
    made = subprocess.run(["make", "-C", str(plugin), "NVIM=nvim-not-installed"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    assert ":helptags ALL" in made.stdout
    assert (plugin / "build" / "pytestmon").is_file() and not (plugin / "doc" / "tags").exists()
    made = subprocess.run(["make", "-C", str(plugin)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    out = tmp_path / "out"
    subprocess.run([nvim_bin, "--headless", "--clean", "-i", "NONE", "-n",
                    "--cmd", "set packpath^=" + str(site),
                    "-c", "silent! help :PytestRun",
                    "-c", f"call writefile([expand('%:t'), getline('.')], '{out}')",
                    "-c", "qa!"], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                   timeout=60, check=True)
    name, line = out.read_text().splitlines()
    assert name == "pytest.txt"
    assert "*:PytestRun*" in line
    assert (plugin / "doc" / "tags").is_file()


def test_the_co_process_s_defaults_are_the_ones_the_docs_state():
    """history_size, sample_interval_ms, watch_debounce_ms and debug_attach_timeout_ms are the
    co-process's to default (the editor sends them only when the user set them): its `version`
    answer says them, and doc/pytest.txt's defaults block and option texts say the same."""
    from test_rpc_protocol import Peer
    p = Peer()
    try:
        defaults = p.call("version", [])["defaults"]
    finally:
        p.close()
    with open(os.path.join(REPO_ROOT, "doc", "pytest.txt"), encoding="utf-8") as f:
        text = f.read()
    assert set(defaults) == {"history_size", "sample_interval_ms", "watch_debounce_ms", "debug_attach_timeout_ms"}
    for name, value in defaults.items():
        assert f"      {name} = nil," in text and f"-- the co-process's: {value}" in text, name
        section = text.split(f"*pytest-{name}*", 1)[1].split("*pytest-", 1)[0]
        assert f"co-process's, {value}" in " ".join(section.split()), (name, section)
