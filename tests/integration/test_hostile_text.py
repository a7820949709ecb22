"""Text from pytest and the tests reaches the user only clean: any bytes in a log fill the
output buffer (a NUL made :PytestOutput fail), terminal control sequences never reach the
quickfix list, diagnostics, notifications, status line, history or a scratch buffer, a huge
assertion message is cut on its way to the editor (the log keeps it), and colour in the output
view becomes highlights. Through the real co-process and real pytest, and through the event
entry point with raw payloads (the Lua side's own defence)."""
import os
import re

import pytest

from conftest import BIN, PROJ_FAIL, dispatch, finished_payload, make_project, run_and_wait, setup_editor, wait_for

PYTHON = "/usr/bin/python3"
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x80-\x9f]")
# Window title (OSC 0), clipboard write (OSC 52), device control string, CR, BS, colour, C1 CSI.
HOSTILE = "T\x1b]0;pwned\x07I\x1b]52;c;ZXZpbA==\x07T\x1bP1$r\x1b\\L\rE\bS\x1b[31m!\x9b2J"
HOSTILE_PY = r'"T\x1b]0;pwned\x07I\x1b]52;c;ZXZpbA==\x07T\x1bP1$r\x1b\\L\rE\bS\x1b[31m!\x9b2J"'

needs_bin = pytest.mark.skipif(not os.access(BIN, os.X_OK), reason=f"co-process {BIN} not built")


@pytest.fixture
def ed(nvim):
    return setup_editor(nvim, PYTHON)  # the system interpreter, whatever TEST_PYTHON says


def shown(nv):
    """Everything the user can read after a run, one string per place."""
    return nv.exec_lua("""
        local out = {}
        local qf = vim.fn.getqflist({ title = 1, items = 1 })
        table.insert(out, 'title: ' .. qf.title)
        for _, it in ipairs(qf.items) do table.insert(out, 'qf: ' .. it.text) end
        for _, n in ipairs(_G.__notes) do table.insert(out, 'note: ' .. n.msg) end
        table.insert(out, 'statusline: ' .. require('pytest').statusline())
        return out
    """)


def diagnostics(nv, path):
    """Messages of the plugin's diagnostics in `path`, opened now (they are set for buffers
    opened after a run, on the next event-loop turn)."""
    nv.command("edit " + path)
    expr = "#vim.diagnostic.get(0, { namespace = require('pytest.results').ns })"
    wait_for(nv, expr + " > 0")
    return nv.exec_lua("local t = {} for _, d in ipairs(vim.diagnostic.get(0, { namespace ="
                       " require('pytest.results').ns })) do table.insert(t, d.message) end return t")


def assert_clean(texts):
    bad = [t for t in texts if CONTROL.search(t.replace("\n", ""))]
    assert bad == []


@needs_bin
def test_nul_in_output_fills_the_output_buffer(ed, tmp_path):
    proj = make_project(tmp_path, "test_nul.py", 'def test_nul():\n    assert False, "a\\x00b"\n')
    ed.command("cd " + str(proj))
    r = run_and_wait(ed, "PytestRun")
    assert r["status"] == "failed"
    with open(r["log_path"], "rb") as f:
        assert b"a\x00b" in f.read()       # the log keeps the bytes as pytest wrote them
    ed.command("PytestOutput")
    buf = ed.current.buffer
    assert buf.name == "pytest://output"
    assert any("AssertionError: ab" in l for l in buf[:])
    assert_clean(buf[:])
    assert_clean(shown(ed))


@needs_bin
def test_control_sequences_never_reach_the_user(ed, tmp_path):
    """The terminal fallback (no plugin, no JUnit report: a user --junitxml elsewhere) takes the
    message from pytest's raw terminal output."""
    proj = make_project(tmp_path, "test_h.py", f"def test_h():\n    assert False, {HOSTILE_PY}\n")
    ed.call("setenv", "PYTESTMON_PYDIR", str(tmp_path / "no-plugin-here"))  # before the co-process starts
    ed.command("cd " + str(proj))
    r = run_and_wait(ed, "PytestRun --junitxml=" + str(tmp_path / "elsewhere.xml"))
    assert r["source"] == "terminal"
    assert r["failures"][0]["message"] == "AssertionError: TITLES!"
    texts = shown(ed)
    assert "qf: test_h: AssertionError: TITLES!" in texts
    assert_clean(texts)
    assert diagnostics(ed, str(proj / "test_h.py")) == ["AssertionError: TITLES!"]
    ed.command("PytestOutput")
    assert_clean(ed.current.buffer[:])


def test_raw_payload_is_cleaned_on_the_lua_side(nvim, lua):
    """Defence in depth: an event payload with raw control sequences (an older co-process, a
    bug) is cleaned wherever the Lua side shows text."""
    p = finished_payload(summary="3 failed" + HOSTILE, error=None)
    p["failures"][0]["message"] = "assert " + HOSTILE + "\nnext line\x00"
    p["failures"][0]["nodeid"] = "test_basic.py::test_assert_eq[\x1b]0;x\x07]"
    p["output_tail"] = "plain \x1b[31mred\x1b[0m \x1b]0;t\x07osc \x1b[?25l\x1b(Bcsi\x00nul\x9b2J\r\n"
    dispatch(nvim, "finished", p)
    texts = shown(nvim)
    assert_clean(texts)
    assert "qf: test_assert_eq[]: assert TITLES! | next line" in texts
    assert any(t.startswith("statusline: ✗ 3 failedTITLES!") for t in texts)
    nvim.command("PytestOutput")
    lines = nvim.current.buffer[:]
    assert_clean(lines)
    assert "plain red osc csinul" in lines
    # The colour became a highlight of "red", not bytes.
    row = lines.index("plain red osc csinul")
    marks = lua("local row = ... return vim.api.nvim_buf_get_extmarks(0, require('pytest.output').ns,"
                " { row, 0 }, { row, -1 }, { details = true })", row)
    assert [(m[2], m[3]["end_col"], m[3]["hl_group"]) for m in marks] == [(6, 9, "PytestFailed")]
    # History entries and any scratch buffer (the memory report uses the same one).
    item = lua("return require('pytest.history').format_item(...)",
               {"run_id": 3, "status": "failed", "summary": "x\x1b]52;c;QQ==\x07y\nz", "args": ["-k", "\x1b[2J"]})
    assert_clean([item])
    assert "xyz" in item
    buf = lua("return require('pytest.util').scratch('pytest://memory', { 'a\\0b', 'c\\nd', 'e\\27[31mf' })")
    assert nvim.api.buf_get_lines(buf, 0, -1, False) == ["ab", "cd", "ef"]
    nvim.command("close")
    diags = diagnostics(nvim, os.path.join(PROJ_FAIL, "test_basic.py"))
    assert "assert TITLES!\nnext line" in diags
    assert_clean([d.replace("\n", " ") for d in diags])


@needs_bin
def test_huge_message_is_cut_on_the_way_to_the_editor(ed, tmp_path):
    proj = make_project(tmp_path, "test_big.py",
                        "def test_big():\n    assert False, 'x' * (10 * 1024 * 1024)\n")
    ed.command("cd " + str(proj))
    r = run_and_wait(ed, "PytestRun", timeout=120)
    msg = r["failures"][0]["message"]
    assert msg.startswith("AssertionError: xxxx") and " [... cut: " in msg
    assert len(msg.encode()) <= 4096 + 64
    assert max(len(t) for t in shown(ed)) <= 4096 + 200
    # The whole event (with the 64 KiB output tail) stays small: no 20 MB round trip.
    assert ed.exec_lua("return #vim.fn.json_encode(require('pytest').last())") < 256 * 1024
    # The whole text stays in the run's log, which :PytestOutput shows.
    assert os.path.getsize(r["log_path"]) > 10 * 1024 * 1024
    ed.command("PytestOutput")
    assert max(len(l) for l in ed.current.buffer[:]) > 10 * 1024 * 1024


@needs_bin
def test_megabyte_node_id_is_cut_where_shown_and_whole_where_it_names_the_test(nvim, tmp_path):
    """A parametrize id of 1 MB: the quickfix text, the tree's line, the progress and status
    events and `finished` carry at most a message's cap of it (the whole id made 1 MB quickfix
    entries, a 5 MB `finished`); the tree keys the test by the whole id, and a rerun of it from
    the tree works (an argument of 1 MB is more than exec takes: it goes through the plugin)."""
    big = "x" * (1 << 20)
    proj = make_project(tmp_path, "test_big.py",
                        "import time\nimport pytest\n\n\n@pytest.mark.parametrize('v', [1], ids=['x' * (1 << 20)])\n"
                        "def test_big(v):\n    time.sleep(0.5)\n    assert v == 2\n\n\ndef test_ok():\n    pass\n")
    bigid = "test_big.py::test_big[%s]" % big
    ed = setup_editor(nvim)  # the tests' interpreter: pytest 7.2 or 8 parses the long argument
    ed.exec_lua("""
        _G.biggest = {}
        local ev = require('pytest.events')
        local orig = ev.dispatch
        ev.dispatch = function(name, p)
          local n = #vim.fn.json_encode(p)
          if n > (_G.biggest[name] or 0) then _G.biggest[name] = n end
          return orig(name, p)
        end
    """)
    ed.command("cd " + str(proj))
    r = run_and_wait(ed, "PytestRun", timeout=120)
    assert (r["counts"]["failed"], r["counts"]["passed"]) == (1, 1), r["summary"]
    biggest = ed.exec_lua("return _G.biggest")
    assert biggest["finished"] < 256 * 1024 and biggest["progress"] < 16 * 1024, biggest
    assert biggest["status"] < 16 * 1024, biggest
    texts = [i["text"] for i in ed.call("getqflist")]
    assert len(texts) == 1 and len(texts[0].encode()) <= 4096 + 200, len(texts[0])
    # Without its own file (the entry's), cut: the bytes the id had in all are said.
    assert texts[0].startswith("test_big[xxxx") and " [... cut: %d bytes in all]" % len(bigid) in texts[0]
    ed.command("PytestSummary")
    wait_for(ed, "require('pytest').tree().collected", timeout=60)
    ed.exec_lua("require('pytest.tree').flush()")
    assert ed.exec_lua("return require('pytest.summary').find(..., true)", bigid)
    lines = ed.exec_lua("return require('pytest.summary').lines()")
    assert max(len(l.encode()) for l in lines) <= 4096 + 200
    ed.command("normal r")
    wait_for(ed, "#_G.fired > 1", timeout=120)
    r = ed.exec_lua("return require('pytest').last()")
    assert r["args"] == [bigid] and (r["counts"]["failed"], r["counts"]["passed"]) == (1, 0), r["summary"]
    assert len(ed.call("getqflist", {"title": 1})["title"].encode()) <= 2 * 4096


# util.clean on literal sequences, the same cases as tests/unit/test_textclean.c.
CLEAN_CASES = [
    ("assert 3 == 4\t\xc3\xa9 \xe2\x9c\x97 \xc2\xa0", False, "assert 3 == 4\t\xc3\xa9 \xe2\x9c\x97 \xc2\xa0"),
    ("\x1b[31mFAILED\x1b[0m [ 25%]", False, "FAILED [ 25%]"),
    ("a\x1b[?25lb\x1b[38:2::255:0:0mc\x1b[ qd", False, "abcd"),
    ("a\x1b]0;pwned title\x07b", False, "ab"),
    ("a\x1b]52;c;ZXZpbCBjbGlwYm9hcmQ=\x1b\\b", False, "ab"),
    ("a\x1bP1$r0m\x1b\\b\x1bXsos\x1b\\c\x1b^pm\x1b\\d\x1b_apc\x1b\\e", False, "abcde"),
    ("a\x1b]0;t\x18b\x1b]0;t\x1ac\x1b]0;t\x1b[31md", False, "abcd"),
    ("a\x1b7b\x1b8c\x1bcd\x1b(Be\x1b#8f", False, "abcdef"),
    ("a\xc2\x9b31mb\xc2\x9d0;title\xc2\x9cc\xc2\x9d52;c;QQ==\x07d\xc2\x85e", False, "abcde"),
    ("a\x00b\x08c\rd\x07e\x0bf\x0cg\x7fh\ti\nj", False, "abcdefgh\tij"),
    ("a\nb\r\nc", True, "a\nb\nc"),
    ("a\x1b]52;c;ZXZpbA==", False, "a"),
    ("a\x1b[31", False, "a"),
    ("a\x1b", False, "a"),
    ("a\xc2", False, "a"),
    ("a\x1b[31\x07mb", False, "amb"),
    ("a\xc2\x1b!:\x9d0;t\x07b", False, "a\x9d0;tb"),
    # bidi controls (U+061C, U+200E/F, U+202A-E, U+2066-9) go, their neighbours stay; a lead byte
    # that starts no character goes, so that removing something never makes one
    ("a\xd8\x9cb\xe2\x80\x8e\xe2\x80\x8fc\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x80\xaed"
     "\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9e", False, "abcde"),
    ("\xd8\x9b\xe2\x80\x8d\xe2\x80\x90\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa\xe2\x9c\x93\xc3\xa9", False,
     "\xd8\x9b\xe2\x80\x8d\xe2\x80\x90\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa\xe2\x9c\x93\xc3\xa9"),
    ("\xe2\x80\xe2\x80\xae\xae|\xe2\x80\x1b[1m\xae|\xd8\x1b[1m\x9c|\xe2", False, "\x80\xae|\x80\xae|\x9c|"),
]


def test_lua_clean_literal_sequences(lua):
    got = lua("""
        local cases, out = ..., {}
        for i, c in ipairs(cases) do out[i] = require('pytest.util').clean(c[1], c[2]) end
        return out
    """, [[c[0].encode("latin-1"), c[1]] for c in CLEAN_CASES])
    got = [g if isinstance(g, bytes) else g.encode("utf-8", "surrogateescape") for g in got]
    assert got == [c[2].encode("latin-1") for c in CLEAN_CASES]
    # is_clean() is true only for a text clean() leaves as it is
    same = lua("""
        local cases, out = ..., {}
        local util = require('pytest.util')
        for i, c in ipairs(cases) do out[i] = not util.is_clean(c) or util.clean(c) == c end
        return out
    """, [c[0].encode("latin-1") for c in CLEAN_CASES if not c[1]])
    assert all(same), same


def test_lua_id_text_cleans_and_caps(lua):
    got = lua("""
        local util = require('pytest.util')
        return { util.id_text('t.py::t[\\226\\128\\174evil\\27[31m]'), util.id_text(string.rep('x', 5000)),
                 util.id_text(string.rep('\\195\\169', 2100)) }
    """)
    assert got[0] == "t.py::t[evil]"
    assert got[1] == "x" * 4096 + " [... cut: 5000 bytes in all]"
    assert got[2] == "\u00e9" * 2048 + " [... cut: 4200 bytes in all]"
