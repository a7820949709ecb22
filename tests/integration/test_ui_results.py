"""What the user sees when a run finishes: quickfix list, diagnostics, notification, autocmds,
statusline. Events are delivered through the real entry point (`pytest.events`.dispatch), the
way the co-process sends them."""
import os

from conftest import PROJ_FAIL, dispatch, finished_payload

ERROR, WARN, INFO = 4, 3, 2


def qf(lua):
    return lua("""
        local info = vim.fn.getqflist({ title = 1, items = 1, context = 1, size = 1 })
        for _, it in ipairs(info.items) do
          it.filename = vim.api.nvim_buf_get_name(it.bufnr)
          it.bufnr = nil
        end
        return info
    """)


def test_failures_become_quickfix_entries(nvim, lua):
    dispatch(nvim, "finished", finished_payload())
    info = qf(lua)
    assert info["title"] == "pytest -x test_basic.py: 3 failed, 1 passed in 0.12s"
    items = [(os.path.relpath(i["filename"], PROJ_FAIL), i["lnum"], i["type"], i["text"], i["valid"])
             for i in info["items"]]
    assert items == [
        ("test_basic.py", 12, "E", "test_basic.py::test_assert_eq: assert 3 == 4", 1),
        ("test_basic.py", 17, "E",
         "test_basic.py::test_helper_crash: ZeroDivisionError: cannot divide 0 by zero", 1),
        ("helpers/calc.py", 3, "I",
         "test_basic.py::test_helper_crash raised here: ZeroDivisionError: cannot divide 0 by zero", 1),
        ("tests/test_math.py", 26, "E",
         "tests/test_math.py::TestCalc::test_mul: assert (2 * 3) == 7 | +  where 6 = 2 * 3", 1),
    ]


def test_quickfix_entries_identify_the_test(nvim, lua):
    dispatch(nvim, "finished", finished_payload())
    ids = lua("""
        local r = require('pytest.results')
        local out = {}
        for i = 1, 4 do table.insert(out, r.qf_entry(i)) end
        return out
    """)
    assert [(e["nodeid"], e["role"]) for e in ids] == [
        ("test_basic.py::test_assert_eq", "failure"),
        ("test_basic.py::test_helper_crash", "failure"),
        ("test_basic.py::test_helper_crash", "crash"),
        ("tests/test_math.py::TestCalc::test_mul", "failure"),
    ]
    assert all(e["run_id"] == 7 for e in ids)
    ctx = qf(lua)["context"]["pytest"]
    assert ctx["run_id"] == 7 and len(ctx["entries"]) == 4
    if lua("return vim.fn.has('nvim-0.8') == 1"):
        items = qf(lua)["items"]
        assert items[0]["user_data"]["nodeid"] == "test_basic.py::test_assert_eq"


def test_cnext_walks_failures(nvim, lua):
    dispatch(nvim, "finished", finished_payload())
    nvim.command("cfirst")
    assert (os.path.basename(nvim.current.buffer.name), nvim.current.window.cursor[0]) == ("test_basic.py", 12)
    nvim.command("cnext")
    assert nvim.current.window.cursor[0] == 17
    nvim.command("cnext")
    assert (os.path.basename(nvim.current.buffer.name), nvim.current.window.cursor[0]) == ("calc.py", 3)


def test_new_list_on_the_stack_each_run(nvim, lua):
    nvim.command("call setqflist([], ' ', {'title': 'grep results', 'items': [{'filename': 'x', 'lnum': 1}]})")
    dispatch(nvim, "finished", finished_payload())
    dispatch(nvim, "finished", finished_payload(run_id=8))
    assert lua("return vim.fn.getqflist({ nr = '$' }).nr") == 3
    nvim.command("colder 2")
    assert qf(lua)["title"] == "grep results"


def test_passing_run_replaces_list_with_empty_titled_one(nvim, lua):
    dispatch(nvim, "finished", finished_payload())
    passed = finished_payload(run_id=8, status="passed", exit_code=0, exit_meaning="tests passed",
                              summary="4 passed in 0.10s", failures=[],
                              counts={"passed": 4, "failed": 0})
    dispatch(nvim, "finished", passed)
    info = qf(lua)
    assert info["items"] == []
    assert info["title"] == "pytest -x test_basic.py: 4 passed in 0.10s"


def test_diagnostics_in_open_and_later_opened_buffers(nvim, lua):
    nvim.command("edit " + os.path.join(PROJ_FAIL, "test_basic.py"))
    dispatch(nvim, "finished", finished_payload())
    diags = lua("return vim.diagnostic.get(0, { namespace = require('pytest.results').ns })")
    assert sorted((d["lnum"], d["severity"], d["message"]) for d in diags) == [
        (11, 1, "assert 3 == 4"),
        (16, 1, "ZeroDivisionError: cannot divide 0 by zero"),
    ]
    assert all(d["source"] == "pytest" for d in diags)
    # A file opened after the run gets its diagnostics too.
    nvim.command("edit " + os.path.join(PROJ_FAIL, "tests", "test_math.py"))
    diags = lua("return vim.diagnostic.get(0, { namespace = require('pytest.results').ns })")
    assert [(d["lnum"], d["message"]) for d in diags] == [(25, "assert (2 * 3) == 7\n +  where 6 = 2 * 3")]
    nvim.command("edit " + os.path.join(PROJ_FAIL, "helpers", "calc.py"))
    diags = lua("return vim.diagnostic.get(0, { namespace = require('pytest.results').ns })")
    assert [(d["lnum"], d["severity"]) for d in diags] == [(2, 3)]  # INFO at the crash site
    # The next run clears them.
    dispatch(nvim, "started", {"run_id": 9, "args": [], "cwd": PROJ_FAIL, "root": PROJ_FAIL})
    assert lua("return #vim.diagnostic.get(nil, { namespace = require('pytest.results').ns })") == 0
    nvim.command("edit " + os.path.join(PROJ_FAIL, "test_basic.py"))
    assert lua("return #vim.diagnostic.get(0, { namespace = require('pytest.results').ns })") == 0


def test_diagnostics_option_off(nvim, lua):
    lua("require('pytest').setup({ diagnostics = false })")
    nvim.command("edit " + os.path.join(PROJ_FAIL, "test_basic.py"))
    dispatch(nvim, "finished", finished_payload())
    assert lua("return #vim.diagnostic.get(nil, { namespace = require('pytest.results').ns })") == 0
    assert len(qf(lua)["items"]) == 4


def qf_open(lua):
    return lua("for _, w in ipairs(vim.fn.getwininfo()) do if w.quickfix == 1 then return true end end"
               " return false")


def test_open_quickfix_on_failure_keeps_focus(nvim, lua):
    win = lua("return vim.api.nvim_get_current_win()")
    dispatch(nvim, "finished", finished_payload(status="passed", failures=[], summary="1 passed"))
    assert not qf_open(lua)
    dispatch(nvim, "finished", finished_payload())
    assert qf_open(lua)
    assert lua("return vim.api.nvim_get_current_win()") == win


def test_open_quickfix_never_and_always(nvim, lua):
    lua("require('pytest').setup({ open_quickfix = 'never' })")
    dispatch(nvim, "finished", finished_payload())
    assert not qf_open(lua)
    lua("require('pytest').setup({ open_quickfix = 'always' })")
    dispatch(nvim, "finished", finished_payload(status="passed", failures=[], summary="1 passed"))
    assert qf_open(lua)


def test_notification_summary_and_levels(nvim, lua, notes):
    dispatch(nvim, "finished", finished_payload())
    assert notes()[-1] == {"msg": "pytest: 3 failed, 1 passed in 0.12s", "level": WARN}
    dispatch(nvim, "finished", finished_payload(status="passed", failures=[], summary="4 passed in 0.10s"))
    assert notes()[-1] == {"msg": "pytest: 4 passed in 0.10s", "level": INFO}
    dispatch(nvim, "finished", finished_payload(status="error", failures=[], summary="",
                                                error="python interpreter not found: /nope/python"))
    assert notes()[-1] == {"msg": "pytest: could not run pytest: python interpreter not found: /nope/python",
                           "level": ERROR}
    dispatch(nvim, "finished", finished_payload(status="timed_out", timed_out=True, failures=[],
                                                summary="2 passed in 30.00s"))
    assert notes()[-1] == {"msg": "pytest: timed out: 2 passed in 30.00s", "level": ERROR}
    # notify = false silences results but not errors.
    lua("require('pytest').setup({ notify = false })")
    n = len(notes())
    dispatch(nvim, "finished", finished_payload())
    assert len(notes()) == n
    dispatch(nvim, "error", {"message": "pytestmon: cannot write log"})
    assert notes()[-1] == {"msg": "pytest: pytestmon: cannot write log", "level": ERROR}


def test_last_and_autocmds(nvim, lua):
    lua("""
        _G.fired = {}
        vim.api.nvim_create_autocmd('User', { pattern = { 'PytestStarted', 'PytestFinished' },
          callback = function(a) table.insert(_G.fired, { a.match, require('pytest').last() and
            require('pytest').last().run_id or false }) end })
    """)
    dispatch(nvim, "started", {"run_id": 7, "args": ["-x"], "cwd": PROJ_FAIL, "root": PROJ_FAIL,
                               "python": "/usr/bin/python3", "cmd": ["/usr/bin/python3", "-m", "pytest"]})
    assert lua("return require('pytest').is_running()") is True
    dispatch(nvim, "finished", finished_payload())
    assert lua("return _G.fired") == [["PytestStarted", False], ["PytestFinished", 7]]
    last = lua("return require('pytest').last()")
    assert last["run_id"] == 7 and last["status"] == "failed" and len(last["failures"]) == 3
    assert lua("return require('pytest').is_running()") is False
    # The user can fire it themselves (0.7 compatible).
    nvim.command("doautocmd User PytestFinished")
    assert len(lua("return _G.fired")) == 3


def test_event_errors_are_reported_not_raised(nvim, lua, notes):
    lua("require('pytest.events').handlers.boom = function() error('kaboom') end")
    dispatch(nvim, "boom", {})
    assert "error handling the boom event" in notes()[-1]["msg"]
    dispatch(nvim, "unknown_future_event", {"x": 1})  # ignored


def test_statusline_from_status_events(nvim, lua):
    dispatch(nvim, "status", {"running": False, "sys_used_pct": 63.2, "swap_pct": 1.6, "warn": False})
    assert lua("return require('pytest').statusline()") == "mem 63% swap 2%"
    dispatch(nvim, "started", {"run_id": 3, "args": [], "cwd": PROJ_FAIL, "root": PROJ_FAIL})
    dispatch(nvim, "status", {"running": True, "done": 45, "total": 120, "failed": 3, "percent": 37,
                              "tree_rss": 312 * 1024 * 1024, "sys_used_pct": 70, "swap_pct": 2,
                              "warn": True})
    assert lua("return require('pytest').statusline()") == "▶ 45/120 ✗3 rss 312M mem 70% swap 2% ⚠"
    dispatch(nvim, "progress", {"run_id": 3, "done": 46, "total": 120, "failed": 3, "percent": 38,
                                "current": "test_basic.py::test_x", "tree_rss": 313 * 1024 * 1024})
    assert lua("return require('pytest').statusline()").startswith("▶ 46/120 ✗3 rss 313M")
    dispatch(nvim, "finished", finished_payload(run_id=3))
    dispatch(nvim, "status", {"running": False, "sys_used_pct": 60, "swap_pct": 2, "warn": False,
                              "last_summary": "3 failed, 1 passed in 0.12s",
                              "last_peak_rss": 50 * 1024 * 1024})
    assert lua("return require('pytest').statusline()") == "✗ 3 failed, 1 passed peak 50.0M mem 60% swap 2%"
    lua("require('pytest').setup({ statusline = { 'warn', 'result' } })")
    dispatch(nvim, "status", {"running": False, "warn": True, "last_summary": "4 passed in 1s"})
    dispatch(nvim, "finished", finished_payload(run_id=4, status="passed", failures=[], summary="4 passed in 1s"))
    assert lua("return require('pytest').statusline()") == "⚠ ✓ 4 passed"


def test_stale_progress_of_other_run_ignored(nvim, lua):
    dispatch(nvim, "started", {"run_id": 5})
    dispatch(nvim, "progress", {"run_id": 4, "done": 99, "total": 100})
    assert "99/100" not in lua("return require('pytest').statusline()")


def test_slowest_quickfix(nvim, lua):
    dispatch(nvim, "finished", finished_payload())
    nvim.command("PytestSlowest 2")
    info = qf(lua)
    assert info["title"].startswith("pytest slowest 2")
    assert [(os.path.basename(i["filename"]), i["lnum"], i["text"]) for i in info["items"]] == [
        ("test_basic.py", 15, "  0.500s test_basic.py::test_helper_crash"),
        ("test_math.py", 13, "  0.200s tests/test_math.py::test_add"),
    ]


def test_output_buffer_strips_ansi(nvim, lua):
    dispatch(nvim, "finished", finished_payload())
    nvim.command("PytestOutput")
    buf = nvim.current.buffer
    assert buf.name == "pytest://output"
    text = "\n".join(buf[:])
    assert "\x1b" not in text
    assert "test_basic.py::test_assert_eq FAILED [ 25%]" in text
    assert "=== 3 failed, 1 passed in 0.12s ===" in text
    assert lua("return vim.bo.buftype") == "nofile"
    assert lua("return vim.bo.modifiable") is False
    marks = lua("return vim.api.nvim_buf_get_extmarks(0, require('pytest.output').ns, 0, -1, { details = true })")
    groups = {m[3]["hl_group"] for m in marks}
    assert "PytestFailed" in groups


def test_output_prefers_log_file(nvim, lua, tmp_path):
    log = tmp_path / "run.log"
    log.write_text("full log line 1\nE   boom\n")
    dispatch(nvim, "finished", finished_payload(log_path=str(log)))
    nvim.command("PytestOutput")
    assert "full log line 1" in nvim.current.buffer[:]
    assert "# log: " + str(log) in nvim.current.buffer[:]


def test_memory_render(nvim, lua):
    dispatch(nvim, "finished", finished_payload())
    report = {
        "pid": 123, "name": "python3", "verdict": "near",
        "sentence": "The next allocation fails at the cgroup limit: 12 MB left.",
        "binding": {"name": "cgroup", "label": "cgroup memory", "verdict": "near", "percent": 95.0},
        "constraints": [{"name": "cgroup", "label": "cgroup memory", "used": 950 * 2**20,
                         "limit": 1000 * 2**20, "percent": 95.0, "verdict": "near"}],
        "process": {"rss": 50 * 2**20, "vms": 300 * 2**20, "threads": 2},
        "tree": {"nproc": 2, "rss": 60 * 2**20, "vms": 400 * 2**20},
        "limits": {"address_space": {"soft": None, "hard": None}},
        "system": {"total": 8 * 2**30, "available": 4 * 2**30, "used": 4 * 2**30, "percent": 50.0,
                   "swap": {"total": 0, "used": 0, "percent": 0.0}},
        "cgroup": {"version": 2, "path": "/user.slice", "limit": 1000 * 2**20, "usage": 950 * 2**20},
    }
    lines = lua("local l = require('pytest.memory').render(..., nil, require('pytest').last(),"
                " { { run_id = 7, peak_rss = 50 * 1048576, summary = '3 failed' },"
                "   { run_id = 6, peak_rss = 25 * 1048576, summary = '4 passed' } }) return l", report)
    text = "\n".join(lines)
    assert "Headroom: near" in text
    assert "The next allocation fails at the cgroup limit" in text
    assert "cgroup v2 /user.slice" in text
    assert "RSS timeline (40 samples" in text
    assert "█" in text and "▁" in text
    assert "Peak RSS across history" in text
    assert "#7" in text and "#6" in text
    assert "unlimited" in text


def test_memory_command_without_coprocess(nvim, lua):
    lua("vim.fn.setenv('PYTESTMON_BIN', '/nonexistent/pytestmon')")
    nvim.command("PytestMemory")
    assert nvim.current.buffer.name == "pytest://memory"
    assert "Memory report unavailable" in "\n".join(nvim.current.buffer[:])


def test_statusline_not_stuck_running_after_finished(nvim, lua):
    dispatch(nvim, "started", {"run_id": 1})
    dispatch(nvim, "status", {"running": True, "done": 0, "total": 0, "percent": 0,
                              "tree_rss": 18 * 2**20, "sys_used_pct": 4, "swap_pct": 0})
    assert lua("return require('pytest').statusline()") == "▶ pytest rss 18.0M mem 4% swap 0%"
    # finished arrives before the co-process's next status push
    dispatch(nvim, "finished", finished_payload(run_id=1, status="interrupted", failures=[],
                                                summary="2 errors in 0.32s"))
    assert lua("return require('pytest').statusline()") == "✗ interrupted: 2 errors peak 50.0M mem 4% swap 0%"
