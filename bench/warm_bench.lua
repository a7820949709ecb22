-- bench/warm_bench.lua: repeated runs in one `nvim --headless --clean` (warm start, issue #26),
-- each against a cold bare pytest started from the same editor, alternated (the order rotates
-- every repetition), driven by bench/run.py section 10. Parameters from the environment:
--   BENCH_CWD        the project            BENCH_OUT   JSON result file
--   BENCH_CMD        PytestNearest | PytestFile | PytestRun (with BENCH_ARGS after it)
--   BENCH_OPEN       the file open (Nearest and File run it)   BENCH_LINE  the cursor's line
--   BENCH_BARE       the bare pytest's arguments after `python -m pytest -q` (space-separated)
--   BENCH_PYTHONPATH PYTHONPATH of both (click: its src/)      BENCH_REPS  repetitions
--   BENCH_WARM       0: the plugin's runs are cold (warm = false)
-- Recorded (ms): `ours` from the command to User PytestFinished (uv.hrtime), `bare` from the
-- bare pytest's spawn to its exit, and for ours whether the run was warm (`warm`, `reasons`).
-- Before the repetitions the command runs once and the warm pytest is waited for (the `mem`
-- report lists it ready), as a user's first run of the day starts it.
local uv = vim.uv or vim.loop
local env = function(k, d)
  local v = os.getenv(k)
  return (v and v ~= '') and v or d
end
local cwd, out, cmd = env('BENCH_CWD'), env('BENCH_OUT'), env('BENCH_CMD', 'PytestNearest')
local args, open_file, line = env('BENCH_ARGS', ''), env('BENCH_OPEN', ''), tonumber(env('BENCH_LINE', '0'))
local bare_args = vim.split(env('BENCH_BARE', ''), ' ', { trimempty = true })
local pythonpath, reps, warm = env('BENCH_PYTHONPATH', ''), tonumber(env('BENCH_REPS', '7')), env('BENCH_WARM', '1') ~= '0'
local PY = '/usr/bin/python3'

local opts = { python = PY, warm = warm, notify = false, open_quickfix = 'never' }
if pythonpath ~= '' then opts.env = { PYTHONPATH = pythonpath } end
require('pytest').setup(opts)
assert(require('pytest.client').start(), 'co-process did not start')
vim.cmd('cd ' .. vim.fn.fnameescape(cwd))
if open_file ~= '' then vim.cmd('edit ' .. vim.fn.fnameescape(open_file)) end
if line > 0 then vim.api.nvim_win_set_cursor(0, { line, 0 }) end

local finished = false
vim.api.nvim_create_autocmd('User', { pattern = 'PytestFinished', callback = function() finished = true end })

local function ours()
  finished = false
  local t0 = uv.hrtime()
  vim.cmd(cmd .. (args ~= '' and (' ' .. args) or ''))
  assert(vim.wait(600000, function() return finished end, 1), 'no PytestFinished')
  local ms = (uv.hrtime() - t0) / 1e6
  local r = require('pytest').last() or {}
  return ms, r
end

local function bare()
  local done = false
  local e = {}
  for k, v in pairs(vim.fn.environ()) do e[#e + 1] = k .. '=' .. v end
  if pythonpath ~= '' then e[#e + 1] = 'PYTHONPATH=' .. pythonpath end
  local a = { '-m', 'pytest', '-q' }
  vim.list_extend(a, bare_args)
  local t0 = uv.hrtime()
  local h
  h = uv.spawn(PY, { args = a, cwd = cwd, env = e, stdio = { nil, nil, nil } }, function()
    done = true
    h:close()
  end)
  assert(h, 'bare pytest did not start')
  assert(vim.wait(600000, function() return done end, 1), 'bare pytest did not end')
  return (uv.hrtime() - t0) / 1e6
end

local function warm_ready()
  local ready
  require('pytest.client').async('mem', { vim.empty_dict() }, function(ok, res)
    ready = false
    for _, w in ipairs(ok and res.warm or {}) do
      if w.state == 'ready' then ready = true end
    end
  end)
  vim.wait(10000, function() return ready ~= nil end, 5)
  return ready
end

local res = { ours = {}, bare = {}, warm = {}, reasons = {} }
ours() -- the first run of the day: it starts the warm pytest
bare() -- the page cache and bytecode, for both
if warm then vim.wait(60000, warm_ready, 20) end
for i = 1, reps do
  local o, b, r
  if i % 2 == 1 then
    o, r = ours()
    b = bare()
  else
    b = bare()
    o, r = ours()
  end
  table.insert(res.ours, o)
  table.insert(res.bare, b)
  table.insert(res.warm, r.warm == true)
  if r.warm_reason then res.reasons[r.warm_reason] = true end
  res.status, res.summary = r.status, r.summary
end
local f = assert(io.open(out, 'w'))
f:write(vim.fn.json_encode(res))
f:close()
vim.cmd('qa!')
