-- pytest.client: lifecycle of the pytestmon co-process (`pytestmon --rpc`, msgpack-RPC over
-- stdio): lazy start, `configure`, restart after a crash, and requests. Only requests that the
-- co-process answers at once go through here; results come back as events (pytest.events).
local M = {}

local config = require('pytest.config')
local util = require('pytest.util')

local levels = vim.log.levels

local S = {
  chan = nil, -- channel/job id of the live co-process
  exited = nil, -- exit code of a co-process that died unexpectedly (reported on restart)
  stopping = {}, -- job ids we stopped ourselves
  stderr = {}, -- last lines the co-process wrote to stderr
}

local STDERR_KEEP = 20

local function on_stderr(_, data)
  if type(data) ~= 'table' then return end
  for _, line in ipairs(data) do
    if line ~= '' then
      table.insert(S.stderr, line)
      if #S.stderr > STDERR_KEEP then table.remove(S.stderr, 1) end
    end
  end
end

local function on_exit(job, code)
  if S.stopping[job] then -- we stopped it ourselves
    S.stopping[job] = nil
    return
  end
  if S.chan ~= job then return end -- a process we already gave up on
  S.chan = nil
  S.exited = code
  local st = require('pytest.state')
  if st.running then
    st.running = false
    util.notify(string.format('pytestmon co-process exited (code %d) during a run; the run was lost', code),
      levels.ERROR)
    pcall(function() require('pytest.statusline').update() end)
  end
end

-- The co-process lives as long as the editor. glibc's per-thread cache (tcache) keeps freed
-- blocks for reuse and fills up over hundreds of runs (~250 KB, RSS creeping for no data);
-- the co-process runs without it. The editor's own GLIBC_TUNABLES travels along in
-- PYTESTMON_CHILD_GLIBC_TUNABLES and the co-process restores it for pytest.
function M.coprocess_env()
  local user = vim.env.GLIBC_TUNABLES or ''
  return {
    GLIBC_TUNABLES = (user ~= '' and (user .. ':') or '') .. 'glibc.malloc.tcache_count=0',
    PYTESTMON_CHILD_GLIBC_TUNABLES = user,
  }
end

local function missing_message(bin)
  return string.format('co-process %s is missing or not executable; run `make` in %s to build it',
    bin, config.plugin_root)
end

local function stderr_hint()
  if #S.stderr == 0 then return '' end
  return ' (stderr: ' .. S.stderr[#S.stderr] .. ')'
end

function M.configure_payload()
  local cfg = config.get()
  return {
    log_dir = cfg.log_dir,
    history_size = cfg.history_size,
    sample_interval_ms = cfg.sample_interval_ms,
    editor_pid = vim.fn.getpid(),
  }
end

-- Start the co-process if needed. Returns the channel, or nil and a message (never notifies).
function M.start()
  if S.chan then return S.chan end
  local bin = config.bin()
  if bin == nil or bin == '' or vim.fn.executable(bin) ~= 1 then
    return nil, missing_message(bin or '')
  end
  S.stderr = {}
  local ok, job = pcall(vim.fn.jobstart, { bin, '--rpc' }, {
    rpc = true,
    env = M.coprocess_env(),
    on_exit = on_exit,
    on_stderr = on_stderr,
  })
  if not ok then
    return nil, string.format('could not start %s: %s', bin, job)
  end
  if job == 0 then
    return nil, string.format('could not start %s: invalid arguments or job table full', bin)
  elseif job == -1 then
    return nil, missing_message(bin)
  end
  S.chan = job
  vim.api.nvim_create_autocmd('VimLeavePre', {
    group = vim.api.nvim_create_augroup('pytest_client', { clear = true }),
    callback = function() M.stop() end,
  })
  -- log_dir is made (0700) and checked by the co-process, which refuses an unsafe one.
  local rok, res = pcall(vim.rpcrequest, job, 'configure', M.configure_payload())
  if not rok then
    S.chan = nil
    pcall(vim.fn.jobstop, job)
    return nil, string.format('co-process %s failed to start: %s%s. Run `make` in %s',
      bin, tostring(res):gsub('\n', ' '), stderr_hint(), config.plugin_root)
  end
  if S.exited ~= nil then
    util.notify(string.format('pytestmon co-process exited (code %d); restarted', S.exited), levels.WARN)
    S.exited = nil
  end
  return job
end

-- Send a request; returns true, result or false, message. Never notifies.
function M.request(method, ...)
  local chan, err = M.start()
  if not chan then return false, err end
  local ok, res = pcall(vim.rpcrequest, chan, method, ...)
  if not ok then
    return false, string.format('request %s failed: %s%s', method, tostring(res):gsub('\n', ' '), stderr_hint())
  end
  return true, res
end

-- Like request(), but reports failures with vim.notify and returns the result or nil.
function M.call(method, ...)
  local ok, res = M.request(method, ...)
  if not ok then
    util.notify(res, levels.ERROR)
    return nil
  end
  return res
end

-- Re-send `configure` to a running co-process (after setup()).
function M.reconfigure()
  if S.chan then pcall(vim.rpcrequest, S.chan, 'configure', M.configure_payload()) end
end

function M.is_running()
  return S.chan ~= nil
end

function M.channel()
  return S.chan
end

function M.stderr()
  return vim.deepcopy(S.stderr)
end

-- Stop the co-process (VimLeavePre, tests). It is restarted silently on next use.
function M.stop()
  local job = S.chan
  if not job then return false end
  S.stopping[job] = true
  S.chan = nil
  pcall(vim.fn.jobstop, job)
  return true
end

return M
