-- pytest.request: the one builder of what run, watch, collect and debug_* send the co-process.
-- They share a request block (cwd, file, python, args, env: the co-process's LaunchRequest,
-- src/pytest/launch.h), from which the co-process decides the root, the interpreter and what
-- pytest gets. Here: the editor's side of it (the configured args before the command's, the
-- configured env, the python option, which may be a function of the root). Nothing waits.
local M = {}

local config = require('pytest.config')
local util = require('pytest.util')
local levels = vim.log.levels

-- The current buffer's file (absolute), or nil when it is not a file.
function M.buffer_file()
  local name = vim.api.nvim_buf_get_name(0)
  if name == '' or vim.bo.buftype ~= '' then return nil end
  return util.abspath(name)
end

-- The request block: {cwd, file, args, env?}. opts.cwd (default: the editor's directory, what
-- relative paths in args are meant from), opts.file (default: the current buffer's file; false:
-- none), opts.args (the command's, after the configured ones). python comes with send().
function M.block(opts)
  opts = opts or {}
  local cfg = config.get()
  local file = opts.file
  if file == nil then file = M.buffer_file() end
  local req = {
    cwd = opts.cwd or vim.fn.getcwd(),
    file = file or nil,
    args = vim.list_extend(vim.deepcopy(cfg.args), opts.args or {}),
  }
  if next(cfg.env) then req.env = cfg.env end
  return req
end

-- req with the configured timeout and memory budget (run, watch), when there are.
function M.with_limits(req)
  local cfg = config.get()
  local t = cfg.timeout
  if t > 0 then req.timeout_ms = math.floor(t * 1000 + 0.5) end
  if cfg.memory_budget > 0 then req.memory_budget_mb = math.floor(cfg.memory_budget + 0.5) end
  if cfg.warm == false then req.warm = 0 end
  return req
end

-- The per-project options (python, prefix, path_map: each a value or a function(root)) as sent:
-- python a non-empty string or nil, prefix a non-empty list or nil, path_map a map or nil.
local function project_options(root, names)
  local cfg = config.get()
  local out = {}
  for _, name in ipairs(names) do
    local v = cfg[name]
    if type(v) == 'function' then
      local ok, r = pcall(v, root)
      if not ok then
        util.notify('the ' .. name .. ' option failed: ' .. tostring(r), levels.WARN)
        r = nil
      end
      v = r
    end
    if name == 'python' then
      out.python = type(v) == 'string' and v ~= '' and v or nil
    elseif type(v) == 'table' and next(v) ~= nil then
      out[name] = v
    end
  end
  return out
end

-- Whether any of the per-project options `names` is a function of the root.
local function needs_root(names)
  local cfg = config.get()
  for _, name in ipairs(names) do
    if type(cfg[name]) == 'function' then return true end
  end
  return false
end

-- Calls send(python, opts) with the interpreter to ask for: `explicit` when given (the one a run
-- used), else the python option; opts {prefix?, path_map?} the other per-project options. A
-- function(root) is asked the root the co-process would use first (`resolve` only stats files).
-- nil lets the co-process choose. Returns what send returned, or whether the `resolve` request
-- went out.
function M.with_python(req, explicit, send)
  -- An explicit interpreter (the one a run used) is not asked of the python option again.
  local names = explicit and { 'prefix', 'path_map' } or { 'python', 'prefix', 'path_map' }
  local function go(o)
    return send(explicit or o.python, o)
  end
  if not needs_root(names) then return go(project_options(nil, names)) end
  return require('pytest.client').async('resolve', { { cwd = req.cwd, file = req.file } }, function(ok, res)
    if not ok or type(res) ~= 'table' or type(res.root) ~= 'string' then
      util.notify('cannot find the project root for the python, prefix or path_map option: ' .. tostring(res),
        levels.WARN)
      return go({})
    end
    go(project_options(res.root, names))
  end)
end

-- Sends `req` (a block() plus the method's own keys) as `method` with its python resolved;
-- on_sent(req) runs when it went out, `answer` gets the co-process's answer (client.async) or,
-- with opts.call, its id (client.async_call). Returns whether the request (or its resolve)
-- went out.
function M.send(method, req, opts, answer)
  opts = opts or {}
  local client = require('pytest.client')
  return M.with_python(req, opts.python, function(python, o)
    req.python = python
    req.prefix = o and o.prefix or nil
    req.path_map = o and o.path_map or nil
    if opts.call then return client.async_call(method, { req }, answer) end
    return client.async(method, { req }, answer)
  end)
end

return M
