-- pytest.health: `:checkhealth pytest`. Works with 0.7 (health#report_*) and 0.10
-- (vim.health.start/ok/warn/error). Not on the UI path: the pytest version check may block
-- for a few seconds.
-- Executes nothing of the project: an interpreter in a venv or under the project root is not
-- run (its Python, pytest and debugpy versions are read from pyvenv.cfg and the dist-info
-- METADATA in its site-packages); any other one is asked with -E from the directory "/", so
-- that neither the project's files nor PYTHONPATH are on its sys.path. With a `prefix` (a
-- container, another host) the interpreter there is asked the same way through it (-I), as the
-- user asked for by running :checkhealth; the rules about this side's venvs do not apply.
local M = {}

local config = require('pytest.config')
local util = require('pytest.util')

local val = util.val
local uv = vim.uv or vim.loop -- vim.loop: before 0.10

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

-- Run a short command with a deadline, from the directory "/" (never the project's: Python puts
-- the current directory first on sys.path for -c); returns exit code and stdout (health only).
local function run_short(cmd, timeout_ms)
  local out = {}
  local okj, job = pcall(vim.fn.jobstart, cmd, {
    cwd = '/',
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

-- Whether `path` is `root` or inside it, as written or once links are resolved.
local function is_under(path, root)
  local function inside(p, r)
    if not p or not r then return false end
    r = r:gsub('/+$', '')
    return r == '' or p == r or p:sub(1, #r + 1) == r .. '/'
  end
  local rp, rr = uv.fs_realpath(path), uv.fs_realpath(root)
  return inside(path, root) or inside(rp, rr) or inside(rp, root) or inside(path, rr)
end

-- Names in directory `dir` (none when it cannot be read).
local function dir_names(dir)
  local names = {}
  local h = uv.fs_scandir(dir)
  while h do
    local name = uv.fs_scandir_next(h)
    if not name then break end
    names[#names + 1] = name
  end
  table.sort(names)
  return names
end

-- The first lines of a small text file (nil when it cannot be read).
local function read_lines(path, max)
  local f = io.open(path, 'r')
  if not f then return nil end
  local lines = {}
  for line in f:lines() do
    lines[#lines + 1] = line
    if #lines >= max then break end
  end
  f:close()
  return lines
end

-- The venv holding interpreter `py` (<venv>/bin/python beside <venv>/pyvenv.cfg) and its
-- pyvenv.cfg as a table of `key = value`; nil when `py` is not in one.
local function venv_of(py)
  local venv = util.dirname(util.dirname(py))
  local lines = read_lines(venv .. '/pyvenv.cfg', 200)
  if not lines then return nil end
  local cfg = {}
  for _, line in ipairs(lines) do
    local k, v = line:match('^%s*([%w_%-]+)%s*=%s*(.-)%s*$')
    if k then cfg[k:lower()] = v end
  end
  return venv, cfg
end

-- The version of distribution `name` installed in `venv` (its lib/python*/site-packages),
-- read from the dist-info's METADATA (else its directory name), and where it was found.
local function dist_version(venv, name)
  for _, lib in ipairs({ 'lib', 'lib64' }) do
    for _, pyd in ipairs(dir_names(venv .. '/' .. lib)) do
      if pyd:match('^python') then
        local site = venv .. '/' .. lib .. '/' .. pyd .. '/site-packages'
        for _, d in ipairs(dir_names(site)) do
          local v = d:match('^' .. name .. '%-([^-]+)%.dist%-info$') or d:match('^' .. name .. '%-([^-]+)[-.].*egg%-info$')
          if v then
            for _, line in ipairs(read_lines(site .. '/' .. d .. '/METADATA', 50)
              or read_lines(site .. '/' .. d .. '/PKG-INFO', 50) or {}) do
              local mv = line:match('^Version:%s*(%S+)')
              if mv then v = mv break end
            end
            return v, site
          end
        end
      end
    end
  end
  return nil
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
  local env = uv.os_getenv('PYTESTMON_BIN')
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

local function check_dap()
  if pcall(require, 'dap') then
    ok(':PytestDebug hands its launch configuration to nvim-dap')
  else
    ok(':PytestDebug without nvim-dap: debugpy waits on 127.0.0.1 for a debugger to attach')
  end
end

-- An interpreter that is not the project's: asked for pytest and debugpy (from "/", -E).
local function probe_interpreter(py)
  local rc, out = run_short({ py, '-E', '-c', 'import pytest, sys; print(pytest.__version__)' }, 15000)
  if rc == 0 then
    ok('pytest ' .. out)
  else
    err('pytest is not importable with ' .. py .. (out and out ~= '' and (': ' .. out:match('[^\n]*$')) or ''),
      as_advice('install it: ' .. py .. ' -m pip install pytest'))
  end
  rc, out = run_short({ py, '-E', '-c', 'import debugpy; print(debugpy.__version__)' }, 15000)
  if rc == 0 then
    ok('debugpy ' .. out .. ' (:PytestDebug)')
  else
    warn('debugpy is not importable with ' .. py .. ': :PytestDebug cannot work'
      .. (out and out ~= '' and (' (' .. out:match('[^\n]*$') .. ')') or ''),
      as_advice('install python3-debugpy (Debian), or: ' .. py .. ' -m pip install debugpy'))
  end
end

-- The project's interpreter (in a venv, or under the root): not run; what its files say.
local function describe_interpreter(py, venv, cfg, root)
  local check = 'run :PytestRun to check the interpreter'
  info(string.format('not run by :checkhealth (%s: a check runs nothing of the project): %s',
    venv and ('in the venv ' .. venv) or ('under the project root ' .. root), check))
  if not venv then
    warn('no pyvenv.cfg beside ' .. util.dirname(py) .. ': its Python, pytest and debugpy are unknown until a run')
    return
  end
  local ver = cfg.version or cfg.version_info
  if ver then
    ok(string.format('Python %s (%s/pyvenv.cfg)', ver, venv))
  else
    warn('no Python version in ' .. venv .. '/pyvenv.cfg')
  end
  local system_site = (cfg['include-system-site-packages'] or ''):lower() == 'true'
  local pv, site = dist_version(venv, 'pytest')
  if pv then
    ok(string.format('pytest %s (installed in %s)', pv, site))
  elseif system_site then
    warn('pytest is not installed in ' .. venv .. ' (it may come from the system site-packages)', as_advice(check))
  else
    err('pytest is not installed in ' .. venv, as_advice('install it: ' .. py .. ' -m pip install pytest'))
  end
  local dv = dist_version(venv, 'debugpy')
  if dv then
    ok('debugpy ' .. dv .. ' (:PytestDebug)')
  else
    warn('debugpy is not installed in ' .. venv .. ': :PytestDebug cannot work'
      .. (system_site and ' (unless the system site-packages have it)' or ''),
      as_advice('install it: ' .. py .. ' -m pip install debugpy'))
  end
end

-- The per-project option `name` for `root` (a value, or what its function returns).
local function option_for(name, root)
  local v = config.get()[name]
  if type(v) ~= 'function' then return v end
  local fok, r = pcall(v, root)
  if not fok then
    warn('the ' .. name .. ' option failed: ' .. tostring(r))
    return nil
  end
  return r
end

-- Through a prefix: what it is, the map, and whether the interpreter there answers.
local function check_prefix(prefix, root)
  ok('prefix: ' .. table.concat(prefix, ' ') .. ' (pytest runs there; the venv rules of this side do not apply)')
  local map = option_for('path_map', root)
  local inside_root = root
  if type(map) == 'table' and next(map) then
    local best = ''
    for inside, host in pairs(map) do
      ok(string.format('path_map: %s (there) -> %s (here)', inside, host))
      if (root == host or root:sub(1, #host + 1) == host .. '/') and #host > #best then
        best, inside_root = host, inside .. root:sub(#host + 1)
      end
    end
    if best == '' then
      warn('the project root ' .. root .. ' is under no path_map entry: it is used as it is there',
        as_advice('add { [PATH THERE] = "' .. root .. '" } to path_map'))
    end
  else
    ok('no path_map: the project is at ' .. root .. ' there too')
  end
  ok('pytest runs in ' .. inside_root .. ' there; results come back through ' .. root .. '/.pytestmon/')
  local py = option_for('python', root)
  py = type(py) == 'string' and py ~= '' and py or 'python3'
  local cmd = vim.list_extend(vim.deepcopy(prefix), { py, '-I', '-c',
    'import sys, pytest; print(sys.version.split()[0], pytest.__version__)' })
  local rc, out = run_short(cmd, 20000)
  if rc == 0 then
    local pyv, ptv = out:match('([^ \n]+) ([^ \n]+)%s*$')
    ok(string.format('python %s there answers: Python %s, pytest %s', py, tostring(pyv), tostring(ptv)))
  else
    err('python ' .. py .. ' does not answer through the prefix' .. (out and out ~= '' and (': ' .. out:match('[^\n]*$')) or ''),
      as_advice('check the prefix by hand: ' .. table.concat(cmd, ' ', 1, #prefix + 1) .. ' -m pytest --version'))
  end
end

-- Whether runs of the project are warm (doc/pytest.txt |pytest-warm|), and why not: the
-- co-process's warm pytests (the `mem` report) and the last run's result.
local function check_warm(root)
  if config.get().warm == false then
    info('runs are cold: warm = false')
    return
  end
  local last = require('pytest').last()
  if type(last) == 'table' and val(last.root) == root and val(last.warm_reason) then
    info('the last run was cold: ' .. util.clean(tostring(val(last.warm_reason))))
  end
  local rok, rep = require('pytest.client').request('mem', vim.empty_dict())
  for _, w in ipairs(rok and type(rep) == 'table' and type(val(rep.warm)) == 'table' and rep.warm or {}) do
    if val(w.root) == root then
      local state = tostring(val(w.state))
      if state == 'refused' then
        warn('runs are cold: ' .. util.clean(tostring(val(w.reason))))
      elseif state == 'ready' then
        ok(string.format('runs are warm: forks of a warm pytest (pid %s)', tostring(val(w.pid))))
      else
        info('warm pytest: ' .. state .. (val(w.reason) and (': ' .. util.clean(tostring(val(w.reason)))) or ''))
      end
      return
    end
  end
  info('runs are warm from the second one on (the first starts a warm pytest of the project)')
end

-- What a run from this buffer would use, as the co-process decides it (`resolve`). Runs
-- nothing of the project (see the top of this file).
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
  local prefix = option_for('prefix', root)
  if type(prefix) == 'table' and #prefix > 0 then
    check_prefix(prefix, root)
    return
  end
  local py, why, refused = val(res.python), val(res.python_why), val(res.refused)
  if type(opt) == 'function' then
    local fok, p = pcall(opt, root)
    if not fok then
      warn('the python option failed: ' .. tostring(p))
    elseif type(p) == 'string' and p ~= '' then
      py, why, refused = p, 'the python option (a function)', nil
    end
  end
  py = tostring(py)
  if refused then
    err(tostring(refused), as_advice('runs, :PytestDebug and the test tree start nothing until its owner or mode is fixed'))
    check_dap()
    return
  end
  if vim.fn.executable(py) ~= 1 then
    err('python interpreter not found: ' .. py, as_advice('set the `python` option or activate a virtualenv'))
    return
  end
  local exe = vim.fn.exepath(py)
  if exe == '' then exe = py end
  ok(string.format('python: %s (chosen by %s)', exe, tostring(why)))
  check_warm(root)
  local venv, cfg = venv_of(exe)
  if venv or is_under(exe, root) then
    describe_interpreter(exe, venv, cfg, root)
  else
    probe_interpreter(exe)
  end
  check_dap()
end

local function check_dirs()
  start('pytest: directories')
  local dir = config.get().log_dir
  local st = uv.fs_stat(dir)
  if not st then
    ok('log directory ' .. dir .. ' will be created (mode 0700) on the first run')
  elseif st.type ~= 'directory' then
    err('log directory is not a directory: ' .. dir, as_advice('set the `log_dir` option'))
  elseif st.uid ~= uv.getuid() then
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
