-- pytest.health: `:checkhealth pytest`. Works with 0.7 (health#report_*) and 0.10
-- (vim.health.start/ok/warn/error). Not on the UI path: the pytest version check may block
-- for a few seconds.
local M = {}

local config = require('pytest.config')
local util = require('pytest.util')

local val = util.val

local function vh()
  local ok, h = pcall(function() return vim.health end)
  if ok and type(h) == 'table' then return h end
  return {}
end

local function report(new, old)
  return function(msg, advice)
    -- Text from the interpreter and the co-process may hold anything (pytest-clean-text).
    msg = util.clean(msg, true)
    if type(advice) == 'table' then
      local a = {}
      for i, s in ipairs(advice) do a[i] = util.clean(s, true) end
      advice = a
    end
    local h = vh()
    if h[new] then return h[new](msg, advice) end
    if h[old] then return h[old](msg, advice) end
    if advice then return vim.fn['health#' .. old](msg, advice) end
    return vim.fn['health#' .. old](msg)
  end
end

local start = function(name)
  local h = vh()
  if h.start then return h.start(name) end
  if h.report_start then return h.report_start(name) end
  return vim.fn['health#report_start'](name)
end
local ok = report('ok', 'report_ok')
local warn = report('warn', 'report_warn')
local err = report('error', 'report_error')
local info = report('info', 'report_info')

local function as_advice(s)
  if s == nil then return nil end
  return type(s) == 'table' and s or { s }
end

-- Run a short command with a deadline; returns exit code and stdout (health only).
local function run_short(cmd, timeout_ms)
  local out = {}
  local okj, job = pcall(vim.fn.jobstart, cmd, {
    stdout_buffered = true,
    stderr_buffered = true,
    on_stdout = function(_, d) vim.list_extend(out, d) end,
    on_stderr = function(_, d) vim.list_extend(out, d) end,
  })
  if not okj or job <= 0 then return nil, 'could not start ' .. tostring(cmd[1]) end
  local rc = vim.fn.jobwait({ job }, timeout_ms)[1]
  if rc == -1 then
    vim.fn.jobstop(job)
    return nil, 'timed out'
  end
  return rc, vim.trim(table.concat(out, '\n'))
end

local function check_nvim()
  start('pytest: Neovim')
  local v = vim.version()
  local s = string.format('Neovim %d.%d.%d', v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.7') == 1 then
    ok(s .. ' (supported: 0.7 or newer)')
  else
    err(s .. ' is too old', as_advice('Neovim 0.7 or newer is required'))
  end
end

local function check_coprocess()
  start('pytest: co-process')
  local bin = config.bin()
  local env = vim.loop.os_getenv('PYTESTMON_BIN')
  if env and env ~= '' then info('binary from $PYTESTMON_BIN: ' .. env) end
  if vim.fn.executable(bin) ~= 1 then
    err('co-process not found or not executable: ' .. bin,
      as_advice('run `make` in ' .. config.plugin_root .. ' (or set the `bin` option)'))
    return false
  end
  ok('binary: ' .. bin)
  local client = require('pytest.client')
  local pok, pong = client.request('ping')
  if not pok then
    err('co-process does not answer: ' .. tostring(pong),
      as_advice('rebuild it with `make` in ' .. config.plugin_root))
    return false
  end
  if pong == 'pong' then
    ok('RPC round trip: ping -> pong')
  else
    warn('RPC round trip: ping -> ' .. vim.inspect(pong))
  end
  local vok, ver = client.request('version')
  if vok and type(ver) == 'table' then
    ok(string.format('pytestmon %s (libuv %s, msgpack %s, libxml2 %s)', tostring(val(ver.version) or '?'),
      tostring(val(ver.libuv) or '?'), tostring(val(ver.msgpack) or '?'), tostring(val(ver.libxml2) or '?')))
  else
    warn('version request failed: ' .. tostring(ver))
  end
  return true
end

-- The buffer the user was in: :checkhealth runs in a new tab with its own buffer.
local function user_buffer()
  local cur = vim.api.nvim_get_current_buf()
  if vim.bo[cur].buftype == '' and vim.api.nvim_buf_get_name(cur) ~= '' then return cur end
  local prev = vim.fn.tabpagenr('#')
  if prev > 0 then
    local buf = vim.fn.tabpagebuflist(prev)[vim.fn.tabpagewinnr(prev)]
    if buf and vim.api.nvim_buf_is_valid(buf) and vim.bo[buf].buftype == '' then return buf end
  end
  local alt = vim.fn.bufnr('#')
  if alt > 0 and vim.bo[alt].buftype == '' then return alt end
  return nil
end

-- :PytestDebug: debugpy for the interpreter, and whether nvim-dap takes the configuration.
local function check_debug(py)
  local rc, out = run_short({ py, '-c', 'import debugpy; print(debugpy.__version__)' }, 15000)
  if rc == 0 then
    ok('debugpy ' .. out .. ' (:PytestDebug)')
  else
    warn('debugpy is not importable with ' .. py .. ': :PytestDebug cannot work'
      .. (out and out ~= '' and (' (' .. out:match('[^\n]*$') .. ')') or ''),
      as_advice('install python3-debugpy (Debian), or: ' .. py .. ' -m pip install debugpy'))
  end
  if pcall(require, 'dap') then
    ok(':PytestDebug hands its launch configuration to nvim-dap')
  else
    ok(':PytestDebug without nvim-dap: debugpy waits on 127.0.0.1 for a debugger to attach')
  end
end

-- What a run from this buffer would use, as the co-process decides it (`resolve`).
local function check_project(have_coprocess)
  start('pytest: project')
  if not have_coprocess then
    warn('project root and interpreter unknown: the co-process is not running')
    return
  end
  local buf = user_buffer()
  local name = buf and vim.api.nvim_buf_get_name(buf) or ''
  local file = name ~= '' and util.abspath(name) or nil
  local opt = config.get().python
  local req = { cwd = vim.fn.getcwd(), file = file }
  if type(opt) == 'string' and opt ~= '' then req.python = opt end
  local rok, res = require('pytest.client').request('resolve', req)
  if not rok or type(res) ~= 'table' then
    warn('resolve request failed: ' .. tostring(res))
    return
  end
  local root = tostring(val(res.root))
  if val(res.marker) then
    ok(string.format('project root: %s (found %s)', root, val(res.marker)))
  else
    warn('no project root above ' .. (file and util.dirname(file) or req.cwd),
      as_advice('runs use ' .. root .. '; add a pytest.ini, pyproject.toml, setup.cfg, tox.ini or conftest.py'))
  end
  local py, why = val(res.python), val(res.python_why)
  if type(opt) == 'function' then
    local fok, p = pcall(opt, root)
    if not fok then
      warn('the python option failed: ' .. tostring(p))
    elseif type(p) == 'string' and p ~= '' then
      py, why = p, 'the python option (a function)'
    end
  end
  py = tostring(py)
  if vim.fn.executable(py) ~= 1 then
    err('python interpreter not found: ' .. py, as_advice('set the `python` option or activate a virtualenv'))
    return
  end
  ok(string.format('python: %s (chosen by %s)', vim.fn.exepath(py), tostring(why)))
  local rc, out = run_short({ py, '-c', 'import pytest, sys; print(pytest.__version__)' }, 15000)
  if rc == 0 then
    ok('pytest ' .. out)
  else
    err('pytest is not importable with ' .. py .. (out and out ~= '' and (': ' .. out:match('[^\n]*$')) or ''),
      as_advice('install it: ' .. py .. ' -m pip install pytest'))
  end
  check_debug(py)
end

local function check_dirs()
  start('pytest: directories')
  local dir = config.get().log_dir
  local st = vim.loop.fs_stat(dir)
  if not st then
    ok('log directory ' .. dir .. ' will be created (mode 0700) on the first run')
  elseif st.type ~= 'directory' then
    err('log directory is not a directory: ' .. dir, as_advice('set the `log_dir` option'))
  elseif st.uid ~= vim.loop.getuid() then
    err('log directory is owned by another user (uid ' .. st.uid .. '): ' .. dir,
      as_advice('runs have no logs; set the `log_dir` option'))
  elseif bit.band(st.mode, 18) ~= 0 then -- 0022: group- or world-writable
    err(string.format('log directory is writable by group or others (mode %o): %s', bit.band(st.mode, 511), dir),
      as_advice('runs have no logs; `chmod go-w` it or set the `log_dir` option'))
  elseif vim.fn.filewritable(dir) == 2 then
    ok('log directory writable: ' .. dir)
  else
    err('log directory not writable: ' .. dir, as_advice('set the `log_dir` option'))
  end
end

local function check_memory(have_coprocess)
  start('pytest: memory')
  if not have_coprocess then
    warn('memory report unavailable: the co-process is not running')
    return
  end
  local rok, rep = require('pytest.client').request('mem', vim.empty_dict())
  if not rok or type(rep) ~= 'table' then
    warn('memory report unavailable: ' .. tostring(rep))
    return
  end
  local cg = val(rep.cgroup)
  if type(cg) == 'table' then
    local lim = val(cg.effective_limit) or val(cg.limit)
    ok(string.format('cgroup v%s %s: memory limit %s, usage %s', tostring(val(cg.version) or '?'),
      tostring(val(cg.path) or ''), lim and util.bytes(lim) or 'none', util.bytes(val(cg.usage))))
  else
    info('no cgroup memory controller found: no cgroup limit applies')
  end
  for _, c in ipairs(util.list(val(rep.constraints))) do
    local v = val(c.verdict)
    local line = string.format('%s: %.1f%% used (%s)', tostring(val(c.label) or val(c.name)),
      tonumber(val(c.percent)) or 0, tostring(v))
    if v == 'ok' then ok(line) else warn(line) end
  end
  local sentence = val(rep.sentence)
  if sentence then info(sentence) end
end

function M.check()
  check_nvim()
  local have = check_coprocess()
  check_project(have)
  check_dirs()
  check_memory(have)
end

return M
