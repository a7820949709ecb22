"""What the user sees when a run finishes: quickfix list, diagnostics, notification, autocmds,
statusline. Events are delivered through the real entry point (`pytest.events`.dispatch), the
way the co-process sends them."""
import json
import os
import subprocess

from conftest import BIN, FIXTURES_DIR, PROJ_FAIL, PromptWatch, dispatch, finished_payload, wait_for

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
        ("test_basic.py", 12, "E", "test_assert_eq: assert 3 == 4", 1),
        ("test_basic.py", 17, "E",
         "test_helper_crash: ZeroDivisionError: cannot divide 0 by zero", 1),
        ("helpers/calc.py", 3, "I",
         "test_basic.py::test_helper_crash raised here: ZeroDivisionError: cannot divide 0 by zero", 1),
        ("tests/test_math.py", 26, "E",
         "TestCalc::test_mul: assert (2 * 3) == 7 | +  where 6 = 2 * 3", 1),
    ]


def test_streamed_failures_make_the_same_list(nvim, lua):
    """The co-process sends the failures with the `tests` events (configure stream_failures=1)
    and a `finished` without them: the quickfix list, the entries' tests and last() are those
    of a `finished` that carries them."""
    whole = finished_payload()
    failures = whole.pop("failures")
    dispatch(nvim, "started", {"run_id": 7, "args": whole["args"], "cwd": whole["cwd"]})
    dispatch(nvim, "tests", {"run_id": 7, "tests": [], "failures": failures[:1]})
    dispatch(nvim, "tests", {"run_id": 7, "tests": [], "failures": failures[1:]})
    dispatch(nvim, "finished", dict(whole, failures_streamed=len(failures)))
    info = qf(lua)
    nvim.command("call setqflist([], 'f')")
    dispatch(nvim, "finished", finished_payload())
    assert info["items"] == qf(lua)["items"] and len(info["items"]) == 4
    assert lua("return #require('pytest').last().failures") == 3
    assert lua("return require('pytest.results').qf_entry(3).role") == "crash"


def test_streamed_failures_that_did_not_all_arrive_are_said(nvim, lua):
    whole = finished_payload()
    failures = whole.pop("failures")
    dispatch(nvim, "started", {"run_id": 7, "args": whole["args"], "cwd": whole["cwd"]})
    dispatch(nvim, "tests", {"run_id": 7, "tests": [], "failures": failures[:1]})
    dispatch(nvim, "finished", dict(whole, failures_streamed=len(failures)))
    msgs = [n["msg"] for n in lua("return _G.__notes")]
    assert any("3 failures were announced but not all arrived" in m for m in msgs), msgs
    assert qf(lua)["size"] == 0
    assert lua("return #require('pytest').last().failures") == 0


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
    assert ctx["run_id"] == 7 and ctx["root"] == PROJ_FAIL
    nvim.command("cfirst | cnext")  # the current entry by default
    assert lua("return require('pytest.results').qf_entry().nodeid") == "test_basic.py::test_helper_crash"


def test_quickfix_entries_follow_the_stack(nvim, lua):
    dispatch(nvim, "finished", finished_payload(run_id=7))
    nvim.command("call setqflist([], ' ', {'title': 'grep', 'items': [{'filename': 'x', 'lnum': 1}]})")
    dispatch(nvim, "finished", finished_payload(run_id=8))
    entry = "return (require('pytest.results').qf_entry(1) or {}).run_id"
    assert lua(entry) == 8
    nvim.command("colder")
    assert lua(entry) is None  # someone else's list
    nvim.command("colder")
    assert lua(entry) == 7
    # Lists pushed off the stack (10 deep) take their entries with them; the rest keep theirs.
    nvim.command("cnewer 2")
    for run_id in range(9, 21):
        dispatch(nvim, "finished", finished_payload(run_id=run_id))
    assert lua(entry) == 20
    nvim.command("colder 9")
    assert lua(entry) == 11


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


def test_crash_site_is_decided_once_for_quickfix_and_diagnostics(nvim, lua):
    """A crash site given relative to the root that is the failure's own place: neither the
    quickfix list nor the diagnostics add a second entry for it (the diagnostics compared the
    relative path with the absolute one and did); one elsewhere gets one of each."""
    p = finished_payload()
    p["failures"] = [dict(p["failures"][0], crash_file="test_basic.py", crash_line=12),
                     dict(p["failures"][1], crash_file="helpers/calc.py", crash_line=3)]
    nvim.command("edit " + os.path.join(PROJ_FAIL, "test_basic.py"))
    dispatch(nvim, "finished", p)
    items = qf(lua)["items"]
    assert [(it["lnum"], it["type"]) for it in items] == [(12, "E"), (17, "E"), (3, "I")]
    diags = lua("return vim.diagnostic.get(0, { namespace = require('pytest.results').ns })")
    assert sorted((d["lnum"], d["severity"]) for d in diags) == [(11, 1), (16, 1)]
    nvim.command("edit " + os.path.join(PROJ_FAIL, "helpers", "calc.py"))
    diags = lua("return vim.diagnostic.get(0, { namespace = require('pytest.results').ns })")
    assert [(d["lnum"], d["severity"]) for d in diags] == [(2, 3)]


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
    # The co-process's summary says it once; the editor shows it as it is.
    dispatch(nvim, "finished", finished_payload(status="timed_out", timed_out=True, failures=[],
                                                summary="timed out after 30 s: 2 passed in 30.00s",
                                                error="timed out after 30 s"))
    assert notes()[-1] == {"msg": "pytest: timed out after 30 s: 2 passed in 30.00s", "level": ERROR}
    dispatch(nvim, "finished", finished_payload(status="cancelled", failures=[], summary="run cancelled",
                                                error="cancelled"))
    assert notes()[-1]["msg"] == "pytest: run cancelled"
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


def test_late_finished_of_cancelled_run_is_dropped(nvim, lua, notes):
    """Run 2 replaced run 1 and ended within run 1's kill grace: run 1's `finished`
    (cancelled) arrives last and must not replace run 2's result, list or notification."""
    dispatch(nvim, "started", {"run_id": 1})
    dispatch(nvim, "started", {"run_id": 2})
    dispatch(nvim, "finished", finished_payload(run_id=2))
    n = len(notes())
    dispatch(nvim, "finished", finished_payload(run_id=1, status="cancelled", failures=[],
                                                summary="cancelled (0 tests ran)"))
    dispatch(nvim, "progress", {"run_id": 1, "done": 99, "total": 100})
    assert lua("return require('pytest').last().run_id") == 2
    assert qf(lua)["title"] == "pytest -x test_basic.py: 3 failed, 1 passed in 0.12s"
    assert lua("return require('pytest').is_running()") is False
    assert lua("return require('pytest').statusline()").startswith("✗ 3 failed, 1 passed")
    assert len(notes()) == n
    # The next run is current again, also after a co-process restart counts from 1.
    dispatch(nvim, "started", {"run_id": 1})
    dispatch(nvim, "finished", finished_payload(run_id=1, status="passed", failures=[],
                                                summary="4 passed in 1s"))
    assert lua("return require('pytest').last().run_id") == 1


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


MEM_REPORT = {
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
    "processes": [
        {"role": "editor", "pid": 100, "process": {"rss": 40 * 2**20, "vms": 90 * 2**20},
         "tree": {"nproc": 4, "rss": 700 * 2**20, "vms": 2 * 2**30}},
        {"role": "co-process", "pid": 101, "process": {"rss": 5 * 2**20, "vms": 40 * 2**20},
         "tree": {"nproc": 3, "rss": 655 * 2**20, "vms": 1900 * 2**20}},
        {"role": "pytest", "pid": 102, "process": {"rss": 600 * 2**20, "vms": 900 * 2**20},
         "tree": {"nproc": 2, "rss": 650 * 2**20, "vms": 1800 * 2**20}},
    ],
    "trend": {"runs": 4, "sentence": "co-process RSS grows steadily across 4 runs with the same args",
              "metrics": [
                  {"name": "coprocess_rss", "label": "co-process RSS", "first": 5 * 2**20,
                   "last": 9 * 2**20, "growing": True},
                  {"name": "editor_rss", "label": "editor RSS", "first": 40 * 2**20,
                   "last": 40 * 2**20, "growing": False},
              ]},
    "memlog_path": "/tmp/logs/memory.jsonl",
    "sections": [
        {"title": "Constraints", "rows": [
            {"label": "cgroup", "value": "near      95.0%  950 MB of 1000 MB (cgroup memory)", "verdict": "near"}]},
        {"title": "Limits (soft / hard)", "rows": [{"label": "address_space", "value": "unlimited / unlimited"}]},
        {"title": "cgroup v2 /user.slice", "rows": [{"label": "usage", "value": "950 MB"}]},
    ],
}


def render_memory(lua, report, runs=None):
    return lua("local rep, runs = ... local l, hl = require('pytest.memory').render(rep, nil,"
               " require('pytest').last(), runs) return { l, hl }", report, runs or [])


def test_memory_render(nvim, lua):
    mem = finished_payload()["memory"]
    mem.update(diagnosis="an allocation failed (MemoryError / ENOMEM) under RLIMIT_AS: address space "
                         "35 MB of 200 MB limit", diagnosis_cause="RLIMIT_AS")
    dispatch(nvim, "finished", finished_payload(memory=mem))
    lines, hl = render_memory(lua, MEM_REPORT, [{"run_id": 7, "peak_rss": 50 * 1048576, "summary": "3 failed"},
                                                {"run_id": 6, "peak_rss": 25 * 1048576, "summary": "4 passed"}])
    text = "\n".join(lines)
    # The binding constraint first, highlighted by verdict; then the last run's diagnosis.
    assert lines[1] == "Headroom: near (binding constraint: cgroup memory, cgroup, 95.0%)"
    assert lines[2] == "  The next allocation fails at the cgroup limit: 12 MB left."
    assert lines[3] == ("Last run #7: an allocation failed (MemoryError / ENOMEM) under RLIMIT_AS: "
                        "address space 35 MB of 200 MB limit (cause: RLIMIT_AS)")
    assert [1, "PytestWarn"] in hl and [2, "PytestWarn"] in hl and [3, "PytestFailed"] in hl
    # editor, co-process and pytest side by side.
    i = lines.index("Processes")
    assert lines[i + 1].split() == ["editor", "co-process", "pytest"]
    rows = {l.split("  ")[1].strip(): l.split()[-3:] for l in lines[i + 2:i + 10]}
    assert rows["pid"] == ["100", "101", "102"]
    assert rows["rss"] == ["40.0M", "5.0M", "600M"]
    assert rows["tree processes"] == ["4", "3", "2"]
    assert rows["tree rss"] == ["700M", "655M", "650M"]
    assert "(pytest is not running)" not in text
    # Trend across runs with the same args.
    assert "Trend across runs with the same args (4 runs)" in text
    assert "  co-process RSS grows steadily across 4 runs with the same args" in lines
    assert any(l.split() == ["co-process", "RSS", "5.0M", "->", "9.0M", "(growing)"] for l in lines)
    assert any(l.split() == ["editor", "RSS", "40.0M", "->", "40.0M"] for l in lines)
    assert "Memory log: /tmp/logs/memory.jsonl" in lines
    assert "cgroup v2 /user.slice" in text
    assert "RSS timeline (40 samples" in text
    assert "  test running at the peak: test_basic.py::test_helper_crash" in lines
    assert "█" in text and "▁" in text
    assert "Peak RSS across history" in text
    assert "#7" in text and "#6" in text
    assert "unlimited" in text


def test_output_and_memory_highlight_without_the_deprecated_call(nvim, lua):
    """nvim_buf_add_highlight() is deprecated since Neovim 0.11: :PytestOutput and the memory
    report highlight with extmarks (util.highlight: a whole line is its text, start to end)."""
    lua("vim.api.nvim_buf_add_highlight = function() error('deprecated since Neovim 0.11') end")
    dispatch(nvim, "finished", finished_payload())
    nvim.command("PytestOutput")
    marks = lua("return vim.api.nvim_buf_get_extmarks(0, require('pytest.output').ns, 0, -1, { details = true })")
    lines = lua("return vim.api.nvim_buf_get_lines(0, 0, 2, false)")
    assert [m[1:3] + [m[3]["end_row"], m[3]["end_col"], m[3]["hl_group"]] for m in marks[:2]] == [
        [0, 0, 0, len(lines[0].encode()), "Comment"], [1, 0, 1, len(lines[1].encode()), "Comment"]]
    assert "PytestFailed" in {m[3]["hl_group"] for m in marks}
    nvim.command("close")
    bufnr = lua("return require('pytest.memory').show(...)", MEM_REPORT, None, [])
    marks = lua("return vim.api.nvim_buf_get_extmarks(..., require('pytest.memory').ns, 0, -1, { details = true })",
                bufnr)
    line1 = [m[3]["hl_group"] for m in marks if m[1] == 1]
    assert line1 == ["PytestWarn"]


def test_memory_render_shows_the_coprocess_sections_as_the_cli_prints_them(nvim, lua):
    """One rendering of the report: :PytestMemory lists the co-process's `sections` line for
    line as `pytestmon mem` prints them (same labels, same sizes), highlighted by verdict."""
    root = os.path.join(FIXTURES_DIR, "proc", "seed-rlimit-as")
    cli = [BIN, "mem", "--root", root, "--pid", "4242"]
    text = subprocess.run(cli, capture_output=True, text=True, check=True, timeout=30).stdout
    report = json.loads(subprocess.run(cli + ["--json"], capture_output=True, text=True, check=True,
                                       timeout=30).stdout)
    lines, hl = lua("local l, hl = require('pytest.memory').render(..., nil, nil, {}) return { l, hl }", report)
    start = lines.index("Constraints")
    assert [l for l in lines[start:] if l != ""] == text.splitlines()[2:]
    assert "  address_space      1.0 GB / 1.0 GB" in lines
    exceeded = [l for l in lines if l.startswith("  RLIMIT_AS ")]
    assert [lines.index(exceeded[0]), "PytestFailed"] in hl
    assert [start, "PytestTitle"] in hl


def test_memory_render_sparse_report(nvim, lua):
    """An older co-process (no processes/trend) and a run without diagnosis still render; a
    memory log that failed says why; binding.sentence wins over the top-level sentence."""
    rep = {k: v for k, v in MEM_REPORT.items() if k not in ("processes", "trend", "memlog_path")}
    rep["binding"] = dict(rep["binding"], sentence="cgroup memory 950 MB of 1000 MB limit")
    rep["memlog_error"] = "memory log is off: cannot open /ro/memory.jsonl: Permission denied"
    rep["processes"] = [MEM_REPORT["processes"][0]]
    dispatch(nvim, "finished", finished_payload())
    lines, _ = render_memory(lua, rep)
    assert lines[2] == "  cgroup memory 950 MB of 1000 MB limit"
    assert not lines[3].startswith("Last run #")
    assert "  (pytest is not running)" in lines
    i = lines.index("Processes")
    assert lines[i + 2].split() == ["pid", "100", "-", "-"]
    assert "Trend across" not in "\n".join(lines)
    assert "Memory log: memory log is off: cannot open /ro/memory.jsonl: Permission denied" in lines
    assert not any("Diagnosis" in l for l in lines)


def test_memory_command_without_coprocess(nvim, lua):
    lua("vim.fn.setenv('PYTESTMON_BIN', '/nonexistent/pytestmon')")
    nvim.command("PytestMemory")
    wait_for(nvim, "require('pytest.client').pending() == 0")  # answers come as events
    assert nvim.current.buffer.name == "pytest://memory"
    assert "Memory report unavailable" in "\n".join(nvim.current.buffer[:])


def test_statusline_not_stuck_running_after_finished(nvim, lua):
    dispatch(nvim, "started", {"run_id": 1})
    dispatch(nvim, "status", {"running": True, "done": 0, "total": 0, "percent": 0,
                              "tree_rss": 18 * 2**20, "sys_used_pct": 4, "swap_pct": 0})
    assert lua("return require('pytest').statusline()") == "▶ pytest rss 18.0M mem 4% swap 0%"
    # finished arrives before the co-process's next status push
    dispatch(nvim, "finished", finished_payload(run_id=1, status="interrupted", failures=[],
                                                summary="interrupted: 2 errors in 0.32s"))
    assert lua("return require('pytest').statusline()") == "✗ interrupted: 2 errors peak 50.0M mem 4% swap 0%"


def big_payload(tmp_path, nfiles=250, per_file=20):
    """A `finished` of nfiles x per_file failures (5,000 by default) in real files; every tenth
    failure was raised in helpers.py (a crash site)."""
    root = tmp_path / "big"
    root.mkdir()
    (root / "helpers.py").write_text("def check(x):\n    assert x\n")
    failures = []
    for fi in range(nfiles):
        name = "test_m%03d.py" % fi
        (root / name).write_text("".join("def test_%02d():\n    assert 0\n\n" % t for t in range(per_file)))
        for t in range(per_file):
            f = {"nodeid": "%s::test_%02d" % (name, t), "kind": "failed", "when": "call",
                 "message": "assert %d == %d" % (fi, t), "file": str(root / name), "line": 3 * t + 2}
            if len(failures) % 10 == 9:
                f.update(crash_file="helpers.py", crash_line=2)  # relative to the root
            failures.append(f)
    n = len(failures)
    return root, finished_payload(root=str(root), cwd=str(root), failures=failures, slowest=[],
                                  summary="%d failed in 12.00s" % n, seconds=12.0,
                                  counts={"passed": 0, "failed": n, "errors": 0, "skipped": 0})


def test_5000_failures_quickfix_set_when_finished_fires(nvim, lua, notes, tmp_path):
    """#17: for 5,000 failures the quickfix list (an entry per failure and per crash site) is set
    when User PytestFinished fires; its `data` (0.8+) is a short summary, not the result, which
    pytest.last() has on every version; diagnostics and the notification follow."""
    root, payload = big_payload(tmp_path)
    nvim.command("edit " + str(root / "test_m001.py"))
    lua("""
        _G.seen = nil
        vim.api.nvim_create_autocmd('User', { pattern = 'PytestFinished', once = true, callback = function(a)
          local last = require('pytest').last()
          _G.seen = { qf = vim.fn.getqflist({ size = 0 }).size, last = #last.failures, data = a.data,
                      entry = require('pytest.results').qf_entry(12) }
        end })
    """)
    n_notes = len(notes())
    dispatch(nvim, "finished", payload)
    seen = lua("return _G.seen")
    assert seen["qf"] == 5000 + 500 and seen["last"] == 5000
    # failure 10 (test_09) has a crash site: item 11 is it, item 12 the failure after it
    assert seen["entry"] == {"run_id": 7, "nodeid": "test_m000.py::test_10", "kind": "failed", "role": "failure"}
    if lua("return vim.fn.has('nvim-0.8') == 1"):
        assert seen["data"] == {"run_id": 7, "status": "failed", "summary": "5000 failed in 12.00s",
                                "seconds": 12.0, "nfailures": 5000,
                                "counts": {"passed": 0, "failed": 5000, "errors": 0, "skipped": 0}}
    assert notes()[n_notes:] == [{"msg": "pytest: 5000 failed in 12.00s", "level": WARN}]
    items = lua("""
        local out = {}
        for _, i in ipairs({ 1, 11, 5500 }) do
          local it = vim.fn.getqflist({ idx = i, items = 1 }).items[1]
          local e = require('pytest.results').qf_entry(i)
          table.insert(out, { vim.fn.fnamemodify(vim.api.nvim_buf_get_name(it.bufnr), ':t'), it.lnum, it.type,
                              it.text, e.nodeid, e.role })
        end
        return out
    """)
    assert items == [
        ["test_m000.py", 2, "E", "test_00: assert 0 == 0", "test_m000.py::test_00", "failure"],
        ["helpers.py", 2, "I", "test_m000.py::test_09 raised here: assert 0 == 9", "test_m000.py::test_09", "crash"],
        ["helpers.py", 2, "I", "test_m249.py::test_19 raised here: assert 249 == 19", "test_m249.py::test_19",
         "crash"],
    ]
    # Diagnostics: the open file's 20 now; a file opened later gets its own, the crash sites'
    # helper file all 500 of its INFO entries.
    ns = "require('pytest.results').ns"
    diags = lua("return vim.diagnostic.get(0, { namespace = %s })" % ns)
    assert sorted((d["lnum"], d["message"]) for d in diags) == [(3 * t + 1, "assert 1 == %d" % t) for t in range(20)]
    nvim.command("edit " + str(root / "test_m200.py"))
    diags = lua("return vim.diagnostic.get(0, { namespace = %s })" % ns)
    assert sorted((d["lnum"], d["message"]) for d in diags) == [(3 * t + 1, "assert 200 == %d" % t) for t in range(20)]
    nvim.command("edit " + str(root / "helpers.py"))
    diags = lua("return vim.diagnostic.get(0, { namespace = %s })" % ns)
    assert len(diags) == 500 and {d["severity"] for d in diags} == {3}
    assert diags[0]["message"].startswith("test_m")


def test_quickfix_text_does_not_repeat_the_entry_s_own_file(nvim, lua):
    """#29 item 3: `tests/test_basics.py|15 error| tests/test_basics.py::test_price_with_tax: ...`
    said the file twice. The path part of the node id goes when it is the entry's own file; it
    stays when the node lives in another file (an inherited or imported test, a crash site)."""
    root = PROJ_FAIL
    failures = [
        {"nodeid": "tests/test_basics.py::test_price_with_tax", "kind": "error", "when": "setup",
         "message": "fixture 'db' not found", "file": os.path.join(root, "tests/test_basics.py"), "line": 15},
        {"nodeid": "tests/test_inherit.py::TestChild::test_inherited", "kind": "failed", "when": "call",
         "message": "assert 2 == 1", "file": os.path.join(root, "tests/base.py"), "line": 4},
        {"nodeid": "test_basic.py::test_helper_crash", "kind": "failed", "when": "call",
         "message": "ZeroDivisionError", "file": os.path.join(root, "test_basic.py"), "line": 17,
         "crash_file": os.path.join(root, "helpers", "calc.py"), "crash_line": 3},
        {"nodeid": "test_basic.py::test_local_crash", "kind": "failed", "when": "call",
         "message": "boom", "file": os.path.join(root, "test_basic.py"), "line": 30,
         "crash_file": os.path.join(root, "test_basic.py"), "crash_line": 5},
        # a file whose name ends like the node id's path is not its file
        {"nodeid": "basic.py::test_b", "kind": "failed", "message": "x",
         "file": os.path.join(root, "test_basic.py"), "line": 40},
    ]
    want = [
        ("tests/test_basics.py", 15, "test_price_with_tax [error in setup]: fixture 'db' not found"),
        ("tests/base.py", 4, "tests/test_inherit.py::TestChild::test_inherited: assert 2 == 1"),
        ("test_basic.py", 17, "test_helper_crash: ZeroDivisionError"),
        ("helpers/calc.py", 3, "test_basic.py::test_helper_crash raised here: ZeroDivisionError"),
        ("test_basic.py", 30, "test_local_crash: boom"),
        ("test_basic.py", 5, "test_local_crash raised here: boom"),
        ("test_basic.py", 40, "basic.py::test_b: x"),
    ]
    dispatch(nvim, "finished", finished_payload(failures=failures))
    got = [(os.path.relpath(i["filename"], root), i["lnum"], i["text"]) for i in qf(lua)["items"]]
    assert got == want
    # The same when the failures stream in while pytest runs.
    dispatch(nvim, "started", {"run_id": 8, "cwd": root, "root": root, "args": []})
    dispatch(nvim, "tests", {"run_id": 8, "tests": [], "failures": failures})
    streamed = finished_payload(run_id=8, failures_streamed=len(failures))
    del streamed["failures"]
    dispatch(nvim, "finished", streamed)
    got = [(os.path.relpath(i["filename"], root), i["lnum"], i["text"]) for i in qf(lua)["items"]]
    assert got == want


def test_a_long_result_never_waits_at_a_prompt_with_neovim_s_own_notify(nvim, lua, tmp_path):
    """Found trying #29 in a real terminal: itsdangerous's crashed coverage run said
    `pytest: pytest crashed: coverage.exceptions.CoverageWarning: Unrecognized option ...` (147
    columns), wider than the echo area, and Neovim's own vim.notify stopped at a hit-enter
    prompt. With it, a notification is one line cut to the echo area; a user's own vim.notify
    gets it whole."""
    err = ("pytest crashed: coverage.exceptions.CoverageWarning: Unrecognized option "
           "'[tool.coverage.report] exclude_also=' in config file pyproject.toml")
    p = finished_payload(status="error", summary=err, error=err + "\nand a second line", failures=[],
                         counts={"passed": 0, "failed": 0, "errors": 0, "skipped": 0})
    lua("vim.notify = _G.__builtin_notify")
    nvim.ui_attach(80, 24, rgb=True)
    watch = PromptWatch(nvim)
    try:
        dispatch(nvim, "finished", p)
        wait_for(nvim, "vim.api.nvim_exec('messages', true):find('pytest crashed', 1, true) ~= nil")
        nvim.command("redraw")
        assert nvim.api.get_mode()["blocking"] is False
    finally:
        watch.close()
    assert watch.seen == [], "nvim waited at a prompt: %r" % watch.seen
    shown = lua("return vim.api.nvim_exec('messages', true)").split("\n")[-1]
    room = lua("return vim.v.echospace")
    assert shown.startswith("pytest: pytest crashed: coverage.exceptions.CoverageWarning: ") and shown.endswith("…")
    assert lua("return vim.fn.strdisplaywidth(...)", shown) < room
    # The whole sentence is where a run's result is told in full.
    assert lua("return vim.fn.getqflist({ title = 1 }).title") == "pytest -x test_basic.py: " + err
    # A user's own vim.notify gets it whole.
    lua("_G.__notes = {} vim.notify = function(m, l) table.insert(_G.__notes, { msg = m, level = l }) end")
    dispatch(nvim, "finished", dict(p, run_id=8))
    wait_for(nvim, "#_G.__notes > 0")
    assert lua("return _G.__notes")[0]["msg"] == "pytest: " + err


def test_one_same_file_helper_answers_through_links(nvim, tmp_path):
    """The editor's one "same file" question (util.same_file; the tree's marks and the quickfix
    list's crash sites ask it): the same text, else the same real path."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "test_a.py").write_text("")
    (real / "test_b.py").write_text("")
    (tmp_path / "link").symlink_to(real)
    same = "return require('pytest.util').same_file(...)"
    assert nvim.exec_lua(same, str(real / "test_a.py"), str(tmp_path / "link" / "test_a.py")) is True
    assert nvim.exec_lua(same, str(real / "test_a.py"), str(real / "test_b.py")) is False
    assert nvim.exec_lua(same, str(real / "gone.py"), str(tmp_path / "link" / "gone.py")) is False
    cache = "local c = {} local u = require('pytest.util') local a, b = ... " \
            "return { u.same_file(a, b, c), vim.tbl_count(c) }"
    assert nvim.exec_lua(cache, str(real / "test_a.py"), str(tmp_path / "link" / "test_a.py")) == [True, 1]
