-- bench/nvim_bench.lua: one measured :PytestRun inside `nvim --headless --clean`, driven by
-- bench/run.py. Parameters come from the environment:
--   BENCH_CWD   directory to run in        BENCH_ARGS  extra :PytestRun arguments (may be empty)
--   BENCH_OUT   JSON result file           BENCH_TICK  ms of the lateness timer (0: off)
-- Recorded (ms unless named): `wall` from the :PytestRun command to the User PytestFinished
-- autocmd (uv.hrtime); `exit_to_finished` / `exit_to_qf`: pytest's exit time is taken as
-- t(:PytestRun) + result.seconds (the co-process's own start->exit clock; it starts after our t0,
-- so this can only over-estimate our latency), `finished` = when the event reaches
-- pytest.events.dispatch (after msgpack decoding), `qf` = when the PytestFinished autocmd runs
-- (the quickfix list is set by then); `finished_cpu`: nvim's CPU time (os.clock) from `finished`
-- to that autocmd; `run_cpu` / `co_cpu`: nvim's / the co-process's CPU time over `wall`; `qf_size`; the lateness timer's
-- worst/median/p99 gap beyond its period, both raw (luv callback) and scheduled (vim.schedule
-- from the callback: when the main loop is free to run Lua, what a user's keypress waits for),
-- from :PytestRun until 50 ms after PytestFinished (so the result handling is included).
-- BENCH_OPEN: a file opened before the clock starts, as the user has the test file they work on
-- open (run.py opens the suite's first test file for :PytestRun: its diagnostics are set, and
-- Neovim's own first-file costs, e.g. 0.10 loading its filetype detection, are not counted as
-- the result's).
-- BENCH_CMD=PytestCoverage (section 7) runs :PytestCoverage instead, with the file BENCH_OPEN
-- open, and waits for the User PytestCoverage autocmd and then BENCH_LINGER ms (default 50) so
-- the batched signs and list entries are placed within the measured span; it records `signs`
-- (placed in BENCH_OPEN's buffer) and `ll_size` (location list entries) at the end.
local uv = vim.uv or vim.loop -- vim.loop: before 0.10
local cwd = os.getenv('BENCH_CWD')
local out = os.getenv('BENCH_OUT')
local args = os.getenv('BENCH_ARGS') or ''
local tick = tonumber(os.getenv('BENCH_TICK') or '0') or 0
local cmd = os.getenv('BENCH_CMD') or 'PytestRun'
local open_file = os.getenv('BENCH_OPEN') or ''
local linger = tonumber(os.getenv('BENCH_LINGER') or '50') or 50
local done_pattern = cmd == 'PytestCoverage' and 'PytestCoverage' or 'PytestFinished'

require('pytest').setup({ python = '/usr/bin/python3' })
assert(require('pytest.client').start(), 'co-process did not start')

-- The file is opened before the lateness timer starts: loading a 25k-line file with its
-- filetype and syntax takes ~1 s in Neovim itself and is not what is measured.
vim.cmd('cd ' .. vim.fn.fnameescape(cwd))
if open_file ~= '' then vim.cmd('edit ' .. vim.fn.fnameescape(open_file)) end

local res = { gaps = {}, sgaps = {} }
local t0, cpu0, co0 -- set when the command runs
local timer
local last, slast
if tick > 0 then
  timer = uv.new_timer()
  last = uv.hrtime()
  slast = last
  timer:start(tick, tick, function()
    local now = uv.hrtime()
    table.insert(res.gaps, (now - last) / 1e6 - tick)
    last = now
    vim.schedule(function()
      local n2 = uv.hrtime()
      table.insert(res.sgaps, (n2 - slast) / 1e6 - tick)
      if not res.worst_gap or (n2 - slast) / 1e6 - tick > res.worst_gap then
        res.worst_gap = (n2 - slast) / 1e6 - tick
        res.worst_at = t0 and (n2 - t0) / 1e6 or -1 -- ms after the command: which phase stalled
      end
      slast = n2
    end)
  end)
end

local events = require('pytest.events')
local orig = events.dispatch
local t_finished, cpu_finished
events.dispatch = function(name, payload)
  if name == 'finished' then t_finished, cpu_finished = uv.hrtime(), os.clock() end
  if name == 'coverage' then res.coverage_at = (uv.hrtime() - t0) / 1e6 end
  return orig(name, payload)
end

-- The co-process's CPU time so far (ms: utime + stime of /proc/PID/stat, clock ticks of 10 ms).
local function co_cpu()
  local f = io.open('/proc/' .. vim.fn.jobpid(require('pytest.client').channel()) .. '/stat')
  if not f then return 0 end
  local s = f:read('*a')
  f:close()
  local rest = s:match('%) (.*)$')
  local fields = vim.split(rest, ' ', true)
  return (tonumber(fields[12]) + tonumber(fields[13])) * 10
end

local function stats(list)
  local t = vim.deepcopy(list)
  table.sort(t)
  local n = #t
  if n == 0 then return { n = 0 } end
  return { n = n, max = t[n], median = t[math.floor((n + 1) / 2)], p99 = t[math.max(1, math.floor(n * 0.99))] }
end

vim.api.nvim_create_autocmd('User', {
  pattern = done_pattern,
  once = true,
  callback = function()
    local t1, cpu1 = uv.hrtime(), os.clock()
    local r = require('pytest').last() or {}
    local secs = tonumber(r.seconds) or 0
    local t_exit = t0 + secs * 1e9
    res.wall = (t1 - t0) / 1e6
    res.pytest_seconds = secs
    res.exit_to_finished = t_finished and (t_finished - t_exit) / 1e6 or vim.NIL
    res.exit_to_qf = (t1 - t_exit) / 1e6
    res.run_cpu = (cpu1 - cpu0) * 1000
    res.co_cpu = co_cpu() - co0
    -- the editor's CPU time from `finished` reaching Lua to the autocmd (a loaded machine
    -- stretches the wall times; this much less)
    res.finished_cpu = cpu_finished and (cpu1 - cpu_finished) * 1000 or vim.NIL
    res.qf_size = vim.fn.getqflist({ size = 0 }).size
    res.status = r.status
    res.counts = r.counts
    res.nfailures = #(r.failures or {})
    res.co_pid = vim.fn.jobpid(require('pytest.client').channel())
    -- keep the timer running 50 ms more so the stall of the `finished` handling itself (which
    -- ends just before this autocmd) is recorded, then write and quit
    vim.defer_fn(function()
      if timer then timer:stop() end
      if cmd == 'PytestCoverage' and open_file ~= '' then
        res.signs = #require('pytest.coverage').signs(vim.fn.bufnr(open_file))
        res.ll_size = vim.fn.getloclist(0, { size = 0 }).size
      end
      res.lateness = stats(res.gaps)
      res.sched_lateness = stats(res.sgaps)
      res.gaps, res.sgaps = nil, nil
      local f = assert(io.open(out, 'w'))
      f:write(vim.fn.json_encode(res))
      f:close()
      vim.cmd('qa!')
    end, linger)
  end,
})

t0 = uv.hrtime()
cpu0 = os.clock()
co0 = co_cpu()
vim.cmd(cmd .. ' ' .. args)
