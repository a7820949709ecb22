-- pytest: public Lua API of the plugin and the implementation of its user commands.
-- Heavy work happens in the pytestmon co-process (pytest.client); results arrive as events
-- (pytest.events). Works without setup().
local M = {}

local config = require('pytest.config')
local state = require('pytest.state')
local util = require('pytest.util')

local levels = vim.log.levels

-- setup({opts}): validate and apply options (see :help pytest-options).
function M.setup(opts)
  config.setup(opts)
  require('pytest.client').reconfigure()
  if package.loaded['pytest.marks'] then require('pytest.marks').refresh() end
  require('pytest.statusline').update()
end

local request = require('pytest.request')
local buffer_file = request.buffer_file

-- run(args, {cwd, file}): start pytest with `args` (list) after the configured `args`.
-- `cwd` (default: the current directory) is what relative paths in `args` are relative to;
-- `file` (default: the current buffer's file) is where the project root is searched from.
-- The co-process decides the root (pytest's working directory) and the interpreter.
-- Does not wait for the co-process: returns true when the request went out, nil when the
-- co-process is unavailable (the user was told). The run id comes with PytestStarted.
function M.run(args, opts)
  opts = opts or {}
  args = args or {}
  local req = request.with_limits(request.block({ cwd = opts.cwd, file = opts.file, args = args }))
  req.nearest_line = opts.nearest_line
  if opts.coverage then -- :PytestCoverage (pytest.coverage)
    req.coverage = 1
    req.coverage_files = require('pytest.coverage').open_files()
  end
  local shown = { cwd = req.cwd, args = vim.deepcopy(args), file = req.file, nearest_line = opts.nearest_line,
    coverage = opts.coverage }
  local sent = request.send('run', req, { call = true }, function(id)
    state.request = shown
    state.run_id = id
    state.running = true
    state.progress = nil
    require('pytest.statusline').update()
  end)
  if not sent then return nil end
  if opts.coverage then require('pytest.coverage').expect() end
  state.request = shown
  return true
end

local function file_context()
  local file = buffer_file()
  if not file then
    util.notify('the current buffer is not a file', levels.WARN)
    return nil
  end
  return file, vim.fn.getcwd()
end

-- :PytestFile: the file as the user would type it, relative to the current directory.
function M.run_file()
  local file, cwd = file_context()
  if not file then return nil end
  return M.run({ util.relpath(file, cwd) }, { cwd = cwd, file = file })
end

-- :PytestNearest: the co-process asks pytest what it collects in the file and runs the test
-- or class around the cursor (any test pytest collects: unittest classes of any name too).
function M.run_nearest()
  local file, cwd = file_context()
  if not file then return nil end
  return M.run({}, { cwd = cwd, file = file, nearest_line = vim.api.nvim_win_get_cursor(0)[1] })
end

-- :PytestLast
function M.run_last()
  local r = state.request
  if not r then
    util.notify('no previous run in this session', levels.WARN)
    return nil
  end
  return M.run(r.args, { cwd = r.cwd, file = r.file, nearest_line = r.nearest_line, coverage = r.coverage })
end

-- :PytestFailed: the last run's arguments plus --lf (only the tests that failed).
function M.run_failed()
  local r = state.request or {}
  local args = vim.deepcopy(r.args or {})
  if not vim.tbl_contains(args, '--lf') and not vim.tbl_contains(args, '--last-failed') then
    table.insert(args, '--lf')
  end
  return M.run(args, { cwd = r.cwd, file = r.file })
end

-- :PytestStop: ends watching (:PytestWatch) and asks the co-process to end the run (without
-- waiting for it). Returns true when the request went out, false when no co-process runs.
function M.stop()
  local client = require('pytest.client')
  local watched = require('pytest.watch').stop()
  if not client.is_running() then
    if not watched then util.notify('no run is active') end
    return false
  end
  return client.async_call('cancel', {}, function(res)
    if res == false and not watched then util.notify('no run is active') end
  end)
end

-- :PytestWatch [args]: toggles watching (see pytest.watch).
function M.watch(args)
  return require('pytest.watch').toggle(args)
end

function M._command_watch(argstr)
  return M.watch(util.split_args(argstr or ''))
end

-- :PytestDebug [file]: the test around the cursor (or the file) under debugpy, through nvim-dap
-- when it is installed, else debugpy listening on 127.0.0.1 for a debugger to attach.
function M.debug(scope)
  return require('pytest.debug').debug(scope)
end

-- :PytestCoverage [args] | off: a run measured by pytest-cov; uncovered lines become signs and
-- the per-file summary a location list (see pytest.coverage). `off` clears them.
function M.coverage(args)
  return require('pytest.coverage').run(args)
end

function M._command_coverage(argstr)
  return M.coverage(util.split_args(argstr or ''))
end

-- :PytestOutput: with the cursor in a test (a line of its definition, or its line in the
-- summary window) that test's report; anywhere else the whole run's output.
function M.output()
  local out = require('pytest.output')
  local n = out.test_at_cursor()
  if n then return out.open_test(n) end
  return out.open()
end

-- :PytestSummary: toggles the test tree's side window (see pytest.summary).
function M.summary()
  return require('pytest.summary').toggle()
end

-- The current test tree (see :help pytest.tree()): plain tables, a copy.
function M.tree()
  return require('pytest.tree').get()
end

-- :PytestSlowest [N]
function M.slowest(n)
  n = tonumber(n) or 10
  local r = state.view or state.last
  if not r then
    util.notify('no run yet', levels.WARN)
    return nil
  end
  local items = require('pytest.results').slowest(r, n)
  if #items == 0 then
    util.notify('the last run has no test durations', levels.WARN)
    return items
  end
  local win = vim.api.nvim_get_current_win()
  pcall(vim.cmd, 'botright copen')
  pcall(vim.api.nvim_set_current_win, win)
  return items
end

-- :PytestMemory
function M.memory()
  return require('pytest.memory').open()
end

-- :PytestHistory
function M.history()
  return require('pytest.history').pick()
end

-- The last `finished` result (see :help pytest-result), or nil.
function M.last()
  return state.last
end

-- True while a run is active.
function M.is_running()
  return state.running
end

-- Statusline component: cached string from the last `status` event. Never does RPC.
function M.statusline()
  return require('pytest.statusline').get()
end

-- Completion for :PytestRun: pytest flags after "-", else paths.
M._flags = {
  '-x', '--exitfirst', '-k', '-m', '-v', '-vv', '-q', '-s', '-l', '-r', '-n', '-p',
  '--lf', '--last-failed', '--ff', '--failed-first', '--nf', '--new-first', '--sw', '--stepwise',
  '--maxfail=', '--tb=auto', '--tb=long', '--tb=short', '--tb=line', '--tb=native', '--tb=no',
  '--durations=', '--durations-min=', '--co', '--collect-only', '--deselect', '--ignore=',
  '--ignore-glob=', '--runxfail', '--strict-markers', '-W', '--capture=no', '--capture=sys',
  '--capture=fd', '--showlocals', '--no-header', '--no-summary', '--log-cli-level=',
  '--import-mode=importlib', '--rootdir=', '-c', '--confcutdir=', '--setup-show', '--full-trace',
  '--color=yes', '--color=no', '--cache-clear', '--doctest-modules', '--pdb',
}

function M._complete(arglead)
  if arglead:sub(1, 1) == '-' then
    return vim.tbl_filter(function(f) return f:sub(1, #arglead) == arglead end, M._flags)
  end
  return vim.fn.getcompletion(arglead, 'file')
end

-- :PytestRun [args]: shell-like splitting so `-k "a and not b"` works.
function M._command_run(argstr)
  return M.run(util.split_args(argstr or ''))
end

return M
