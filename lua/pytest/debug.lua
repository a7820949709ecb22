-- pytest.debug: :PytestDebug, the test around the cursor (or the file) under debugpy.
-- The co-process decides what a run would (root, interpreter, the user's args rewritten for
-- the root, the collected node around the cursor: `debug_config`/`debug_listen` in HACKING.md)
-- and answers with a `debug` event. With nvim-dap installed its launch configuration goes to
-- require('dap').run(); without it the co-process starts debugpy behind an endpoint of its own
-- on 127.0.0.1 that only this user can use (src/pytest/dapbridge.h) and the user is told how
-- to attach once it accepts. Never waits on the co-process.
local M = {}

local config = require('pytest.config')
local util = require('pytest.util')

local levels = vim.log.levels
local val = util.val

-- The session the editor asked for last: {id, listen, dap}; events of any other are stale.
local S = {}

-- require('dap') when nvim-dap is installed (something with a run function), else nil.
local function find_dap()
  local ok, dap = pcall(require, 'dap')
  if ok and type(dap) == 'table' and type(dap.run) == 'function' then return dap end
  return nil
end

-- The nvim-dap launch configuration for the co-process's `config` (see :help pytest-debug).
function M.dap_configuration(c, target)
  local conf = {
    type = 'python',
    request = 'launch',
    name = 'pytest ' .. tostring(target),
    module = val(c.module) or 'pytest',
    args = util.list(val(c.args)),
    cwd = val(c.cwd),
    env = type(val(c.env)) == 'table' and val(c.env) or {},
    python = val(c.python),
    justMyCode = false,
    console = 'internalConsole',
  }
  if next(conf.env) == nil then conf.env = vim.empty_dict() end -- a JSON object, not []
  local prefix = util.list(val(c.prefix))
  if #prefix > 0 then
    -- Through a prefix: debugpy's adapter runs there on stdio (M.PREFIX_ADAPTER), paths mapped.
    conf.type = M.PREFIX_ADAPTER
    conf.pathMappings = util.list(val(c.pathMappings))
  end
  return vim.tbl_extend('force', conf, config.get().debug_config)
end

-- The nvim-dap adapter of a run through the `prefix` option: `PREFIX PYTHON -m debugpy.adapter`,
-- DAP on its stdin/stdout (no port on either side).
M.PREFIX_ADAPTER = 'pytestmon_prefix'

function M.prefix_adapter(c)
  local prefix = util.list(val(c.prefix))
  local args = {}
  for i = 2, #prefix do table.insert(args, prefix[i]) end
  vim.list_extend(args, { val(c.python) or 'python3', '-m', 'debugpy.adapter' })
  return { type = 'executable', command = prefix[1], args = args }
end

-- The attach timeout as people say it: "5 min", "90 s", "0.5 s".
local function duration(ms)
  if type(ms) ~= 'number' then return nil end
  if ms >= 60000 and ms % 60000 == 0 then return string.format('%d min', ms / 60000) end
  if ms % 1000 == 0 then return string.format('%d s', ms / 1000) end
  return string.format('%.1f s', ms / 1000)
end

-- How to attach to a listening debugpy, as the notification says it.
function M.attach_help(host, port, target, timeout_ms)
  local within = duration(timeout_ms)
  local lines = {
    string.format('debugpy waits for a debugger on %s:%d (%s)%s.', host, port, tostring(target),
      within and (', for ' .. within) or ''),
    'Attach with nvim-dap:',
    string.format("  :lua require('dap').run({ type = 'python', request = 'attach', "
      .. "connect = { host = '%s', port = %d }, justMyCode = false, redirectOutput = true })", host, port),
    'or VS Code (launch.json):',
    string.format('  { "name": "pytest", "type": "debugpy", "request": "attach", '
      .. '"connect": { "host": "%s", "port": %d }, "justMyCode": false, "redirectOutput": true }', host, port),
    ':PytestStop ends it.',
  }
  return table.concat(lines, '\n')
end

local function on_config(p)
  local dap = find_dap()
  if not dap then
    util.notify('nvim-dap is gone: run :PytestDebug again to debug without it', levels.WARN)
    return
  end
  local c = val(p.config) or {}
  if #util.list(val(c.prefix)) > 0 and type(dap.adapters) == 'table' then
    dap.adapters[M.PREFIX_ADAPTER] = M.prefix_adapter(c)
  elseif type(dap.adapters) == 'table' and dap.adapters.python == nil then
    util.notify("nvim-dap has no 'python' adapter: install nvim-dap-python (require('dap-python')"
      .. ".setup(...)) or set require('dap').adapters.python (see :help pytest-debug)", levels.WARN)
    return
  end
  local conf = M.dap_configuration(val(p.config) or {}, val(p.target))
  if val(p.nearest_found) == false then util.notify('no test at the cursor; debugging the whole file') end
  local ok, err = pcall(dap.run, conf)
  if not ok then util.notify('nvim-dap refused the configuration: ' .. tostring(err), levels.ERROR) end
end

M.bufname = 'pytest://debug'

-- One line in the echo area (several stopped Neovim 0.7 at a hit-enter prompt); how to attach,
-- in a scratch buffer the user can yank from, shown without taking the cursor.
local function on_listen(p)
  local l = val(p.listen) or {}
  S.listening = { host = val(l.host), port = val(l.port), pid = val(p.pid), target = val(p.target) }
  local lines = vim.split(M.attach_help(S.listening.host, S.listening.port, S.listening.target,
    val(p.attach_timeout_ms)), '\n', true)
  if val(p.nearest_found) == false then table.insert(lines, 1, 'No test at the cursor: debugging the whole file.') end
  local ok, err = pcall(util.scratch, M.bufname, lines, nil, { keep_focus = true, wrap = true, max_height = 14 })
  if not ok then util.notify('cannot show ' .. M.bufname .. ': ' .. tostring(err), levels.WARN) end
  util.notify(string.format('debugpy waits on %s:%s; see %s', tostring(S.listening.host),
    tostring(S.listening.port), M.bufname))
end

-- Another user's connection to the endpoint was closed before a byte went either way.
local function on_refused(p)
  local r = val(p.refused) or {}
  local uid = tonumber(val(r.uid))
  util.notify(string.format('refused a connection to the debug endpoint from %s: only you can attach',
    (uid and uid >= 0) and ('uid ' .. uid) or 'an unknown user'), levels.WARN)
end

local function on_exited(p)
  S.listening = nil
  local status, sig = val(p.status), val(p.signal)
  local why = util.clean(tostring(val(p.stderr) or ''), true):gsub('%s+$', '')
  -- python -m of a missing module exits 1, as pytest does when tests fail.
  local no_debugpy = why:find('No module named debugpy', 1, true) ~= nil
  if val(p.timed_out) then
    util.notify(string.format('no debugger attached within %s: debugpy was ended (option debug_attach_timeout_ms)',
      duration(val(p.attach_timeout_ms)) or 'the attach timeout'), levels.WARN)
  elseif val(p.cancelled) then
    util.notify('the debugged pytest was stopped')
  elseif no_debugpy then
    util.notify('debugpy ended (exit ' .. tostring(status) .. '): ' .. why
      .. ' (install python3-debugpy, or debugpy into the project\'s environment)', levels.ERROR)
  elseif (status == 0 or status == 1) and (sig == nil or sig == 0) then
    util.notify(status == 0 and 'the debugged tests passed' or 'the debugged tests failed',
      status == 0 and levels.INFO or levels.WARN)
  else
    util.notify(string.format('debugpy ended (exit %s%s)%s', tostring(status),
      (sig and sig ~= 0) and (', signal ' .. sig) or '', why ~= '' and (': ' .. why) or ''), levels.ERROR)
  end
end

-- The `debug` event (pytest.events): the answer to the editor's latest :PytestDebug.
function M._event(p)
  if S.id == nil or val(p.debug_id) ~= S.id then return end
  if val(p.error) then
    util.notify('cannot debug: ' .. tostring(val(p.error)), levels.ERROR)
  elseif val(p.exited) then
    on_exited(p)
  elseif val(p.refused) then
    on_refused(p)
  elseif val(p.listen) then
    on_listen(p)
  elseif val(p.config) then
    on_config(p)
  end
end

-- Where the debugpy started without nvim-dap listens: {host, port, pid, target}, or nil.
function M.listening()
  return S.listening and vim.deepcopy(S.listening) or nil
end

-- debug(scope): scope nil/'nearest' debugs the test or class around the cursor (pytest is
-- asked, as :PytestNearest), 'file' the current file. Returns true when the request went out.
function M.debug(scope)
  if scope == '' then scope = nil end
  if scope ~= nil and scope ~= 'file' and scope ~= 'nearest' then
    error(string.format("(pytest) :PytestDebug takes 'file' or nothing, got %s", vim.inspect(scope)), 0)
  end
  local name = vim.api.nvim_buf_get_name(0)
  if name == '' or vim.bo.buftype ~= '' then
    util.notify('the current buffer is not a file', levels.WARN)
    return nil
  end
  local cfg = config.get()
  local request = require('pytest.request')
  local req = request.block({ file = util.abspath(name) })
  if scope ~= 'file' then req.nearest_line = vim.api.nvim_win_get_cursor(0)[1] end
  local dap = find_dap()
  local method = dap and 'debug_config' or 'debug_listen'
  if not dap then req.attach_timeout_ms = cfg.debug_attach_timeout_ms end
  return request.send(method, req, { call = true }, function(id)
    S.id = id
    S.listening = nil
  end) and true or nil
end

return M
