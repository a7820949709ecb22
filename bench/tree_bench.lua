-- bench/tree_bench.lua: the test tree (#15) under a big run, inside `nvim --headless --clean`,
-- driven by bench/run.py section 9. Parameters from the environment:
--   BENCH_CWD   the suite (its root)         BENCH_OUT  JSON result file
--   BENCH_OPEN  a test file opened in a window beside the tree (its marks update live)
--   BENCH_TICK  ms of the lateness timer (default 10)
-- Steps: :PytestSummary (collects the suite), wait for the `collection` event, then a 10 ms
-- timer runs from :PytestRun until 300 ms after PytestFinished (so the last batched flush is
-- inside the span). Recorded (ms): `collect_event` (from the `collection` event to the tree
-- shown: built in batches across event-loop turns, first marks and summary), the timer's worst/p99 lateness, raw (luv callback) and
-- scheduled (vim.schedule from it: when a keypress would be handled), and the tree's update cost:
-- every `tests` event's handling (`tests_max`, `tests_total`, `tests_events`, `tests_entries`)
-- and every flush of the views (marks + summary: `flush_max`, `flush_total`, `flushes`);
-- `tree_tests` (leaves in the tree), `summary_lines`, `marks` (in the open file) and the run's
-- counts at the end.
local uv = vim.uv or vim.loop -- vim.loop: before 0.10
local cwd = assert(os.getenv('BENCH_CWD'))
local out = assert(os.getenv('BENCH_OUT'))
local open_file = os.getenv('BENCH_OPEN') or ''
local tick = tonumber(os.getenv('BENCH_TICK') or '10') or 10

local function write(res)
  local f = assert(io.open(out, 'w'))
  f:write(vim.fn.json_encode(res))
  f:close()
end

_G.__notes = {}
vim.notify = function(msg) table.insert(_G.__notes, msg) end
local ok, err = pcall(function()
  require('pytest').setup({ python = '/usr/bin/python3', notify = false, open_quickfix = 'never' })
  assert(require('pytest.client').start(), 'co-process did not start')
  vim.cmd('cd ' .. vim.fn.fnameescape(cwd))
  if open_file ~= '' then vim.cmd('edit ' .. vim.fn.fnameescape(open_file)) end

  local res = {}
  local tree = require('pytest.tree')
  local events = require('pytest.events')
  local orig_dispatch = events.dispatch
  local collected = false
  events.dispatch = function(name, payload)
    if name == 'collection' then
      local t = uv.hrtime()
      vim.api.nvim_create_autocmd('User', {
        pattern = 'PytestCollected',
        once = true,
        callback = function()
          tree.flush() -- the views' first render belongs to it
          res.collect_event = (uv.hrtime() - t) / 1e6
          collected = true
        end,
      })
      return orig_dispatch(name, payload)
    end
    local t = uv.hrtime()
    local r = orig_dispatch(name, payload)
    local d = (uv.hrtime() - t) / 1e6
    if d > 5 and res.slow_events then
      table.insert(res.slow_events, { name = name, ms = d, at = (t - res.t0) / 1e6 })
    end
    return r
  end
  local tests_ms, flush_ms, entries = {}, {}, 0
  local on_tests = tree.on_tests
  tree.on_tests = function(p)
    local t = uv.hrtime()
    on_tests(p)
    table.insert(tests_ms, (uv.hrtime() - t) / 1e6)
    entries = entries + #(p.tests or {})
  end
  local st = tree._state()
  -- time every flush of the views (the tree calls view.flush for each registered view)
  local function timed(view)
    local f = view.flush
    view.flush = function(...)
      local t = uv.hrtime()
      f(...)
      if res.t0 then table.insert(flush_ms, (uv.hrtime() - t) / 1e6) end -- during the run
    end
  end
  timed(require('pytest.marks'))
  timed(require('pytest.summary'))
  assert(st)

  vim.cmd('PytestSummary')
  vim.wait(300000, function() return collected or not tree.collecting() end, 20)
  assert(collected, 'no collection: ' .. tostring(tree._state().collect_error or vim.inspect(_G.__notes or {})))
  if open_file ~= '' then vim.cmd('wincmd p') end

  local gaps, sgaps = {}, {}
  local last, slast = uv.hrtime(), uv.hrtime()
  local timer = uv.new_timer()
  timer:start(tick, tick, function()
    local now = uv.hrtime()
    table.insert(gaps, (now - last) / 1e6 - tick)
    last = now
    vim.schedule(function()
      local n2 = uv.hrtime()
      local g = (n2 - slast) / 1e6 - tick
      table.insert(sgaps, g)
      if g > (res.worst_gap or 0) then
        res.worst_gap, res.worst_at = g, (n2 - res.t0) / 1e6 -- ms after :PytestRun: which phase stalled
      end
      slast = n2
    end)
  end)
  local finished = false
  vim.api.nvim_create_autocmd('User', {
    pattern = 'PytestFinished',
    once = true,
    callback = function() vim.defer_fn(function() finished = true end, 300) end,
  })
  local t0 = uv.hrtime()
  res.t0, res.slow_events = t0, {}
  vim.cmd('PytestRun')
  assert(vim.wait(900000, function() return finished end, 20), 'the run did not finish within 900 s')
  timer:stop()
  res.wall = (uv.hrtime() - t0) / 1e6
  res.t0 = nil

  local function stats(list)
    local t = vim.deepcopy(list)
    table.sort(t)
    local n = #t
    local sum = 0
    for _, x in ipairs(t) do sum = sum + x end
    if n == 0 then return { n = 0, max = 0, p99 = 0, total = 0 } end
    return { n = n, max = t[n], p99 = t[math.max(1, math.floor(n * 0.99))], total = sum }
  end
  res.load = vim.fn.readfile('/proc/loadavg')[1] -- a busy machine stalls every process
  res.lateness = stats(gaps)
  res.sched_lateness = stats(sgaps)
  local ts, fs = stats(tests_ms), stats(flush_ms)
  res.tests_events, res.tests_max, res.tests_total, res.tests_entries = ts.n, ts.max, ts.total, entries
  res.flushes, res.flush_max, res.flush_total = fs.n, fs.max, fs.total
  local t = require('pytest').tree()
  res.tree_tests = #t.tests
  res.counts = (require('pytest').last() or {}).counts
  res.summary_lines = #require('pytest.summary').lines()
  if open_file ~= '' then res.marks = #require('pytest.marks').get(vim.fn.bufnr(open_file)) end
  write(res)
end)
if not ok then write({ error = tostring(err) }) end
vim.cmd('qa!')
