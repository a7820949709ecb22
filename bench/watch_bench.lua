-- bench/watch_bench.lua: :PytestWatch on a generated project inside `nvim --headless --clean`,
-- driven by bench/run.py (section 6). Environment:
--   BENCH_CWD  project root    BENCH_OUT  JSON result file
--   BENCH_EDIT root-relative module to write    BENCH_REPS  how many writes
-- Per write: `ms` from the :write (uv.hrtime just before it) to the User PytestFinished
-- autocmd (the quickfix list is set by then), `tests` = passed + failed of that run, `files` = the
-- test files the co-process chose. Also `ready_ms` (from :PytestWatch to the `ready` event, the
-- graph scan) and `graph_files`.
local uv = vim.uv or vim.loop -- vim.loop: before 0.10
local cwd = os.getenv('BENCH_CWD')
local out = os.getenv('BENCH_OUT')
local edit = os.getenv('BENCH_EDIT')
local reps = tonumber(os.getenv('BENCH_REPS') or '3') or 3

require('pytest').setup({ python = '/usr/bin/python3', notify = false, open_quickfix = 'never' })
assert(require('pytest.client').start(), 'co-process did not start')

local res = { writes = {} }
local t_watch, t_write, last_watch
local n = 0

local events = require('pytest.events')
local orig = events.dispatch
events.dispatch = function(name, payload)
  if name == 'watch' then
    last_watch = payload
    if payload.state == 'ready' and not res.ready_ms then
      res.ready_ms = (uv.hrtime() - t_watch) / 1e6
      res.graph_files = payload.files
      vim.schedule(function() _G.__bench_write() end)
    end
  end
  return orig(name, payload)
end

local function finish()
  local f = assert(io.open(out, 'w'))
  f:write(vim.fn.json_encode(res))
  f:close()
  vim.cmd('qa!')
end

function _G.__bench_write()
  n = n + 1
  vim.cmd('edit ' .. vim.fn.fnameescape(cwd .. '/' .. edit))
  vim.api.nvim_buf_set_lines(0, -1, -1, false, { '# write ' .. n })
  t_write = uv.hrtime()
  vim.cmd('write')
end

vim.api.nvim_create_autocmd('User', {
  pattern = 'PytestFinished',
  callback = function()
    local t1 = uv.hrtime()
    local r = require('pytest').last() or {}
    local c = r.counts or {}
    table.insert(res.writes, {
      ms = (t1 - t_write) / 1e6,
      tests = (tonumber(c.passed) or 0) + (tonumber(c.failed) or 0),
      files = last_watch and last_watch.tests and #last_watch.tests or vim.NIL,
      whole = last_watch ~= nil and last_watch.whole == true,
      status = r.status,
      qf = vim.fn.getqflist({ size = 0 }).size,
    })
    if n < reps then
      vim.schedule(_G.__bench_write)
    else
      vim.schedule(finish)
    end
  end,
})

vim.cmd('cd ' .. vim.fn.fnameescape(cwd))
t_watch = uv.hrtime()
vim.cmd('PytestWatch -q')
