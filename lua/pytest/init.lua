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
  require('pytest.statusline').update()
end

-- run(args, {cwd, file}): start pytest with `args` (list) after the configured `args`.
-- Does not wait for the co-process: returns true when the request went out, nil when the
-- co-process is unavailable (the user was told). The run id comes with PytestStarted.
function M.run(args, opts)
  opts = opts or {}
  args = args or {}
  local cfg = config.get()
  local root = opts.cwd or util.buffer_root(0)
  local full = vim.list_extend(vim.deepcopy(cfg.args), args)
  local req = {
    cwd = root,
    args = full,
    python = util.python_for(root, cfg.python),
    file = opts.file,
  }
  if cfg.timeout > 0 then req.timeout_ms = math.floor(cfg.timeout * 1000 + 0.5) end
  if next(cfg.env) then req.env = cfg.env end
  local request = { cwd = root, args = vim.deepcopy(args), file = opts.file }
  local sent = require('pytest.client').async_call('run', { req }, function(id)
    state.request = request
    state.run_id = id
    state.running = true
    state.progress = nil
    require('pytest.statusline').update()
  end)
  if not sent then return nil end
  state.request = request
  return true
end

local function file_context()
  local name = vim.api.nvim_buf_get_name(0)
  if name == '' or vim.bo.buftype ~= '' then
    util.notify('the current buffer is not a file', levels.WARN)
    return nil
  end
  local file = util.abspath(name)
  local root = util.project_root(util.dirname(file)) or vim.fn.getcwd()
  return file, root
end

-- :PytestFile
function M.run_file()
  local file, root = file_context()
  if not file then return nil end
  return M.run({ util.relpath(file, root) }, { cwd = root, file = file })
end

-- :PytestNearest
function M.run_nearest()
  local file, root = file_context()
  if not file then return nil end
  local nodeid, found = require('pytest.nearest').nodeid(0, root)
  if not found then util.notify('no test at the cursor; running the whole file') end
  return M.run({ nodeid }, { cwd = root, file = file })
end

-- :PytestLast
function M.run_last()
  local r = state.request
  if not r then
    util.notify('no previous run in this session', levels.WARN)
    return nil
  end
  return M.run(r.args, { cwd = r.cwd, file = r.file })
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

-- :PytestStop: asks the co-process to end the run (without waiting for it). Returns true
-- when the request went out, false when no co-process runs.
function M.stop()
  local client = require('pytest.client')
  if not client.is_running() then
    util.notify('no run is active')
    return false
  end
  return client.async_call('cancel', {}, function(res)
    if res == false then util.notify('no run is active') end
  end)
end

-- :PytestOutput
function M.output()
  return require('pytest.output').open()
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
