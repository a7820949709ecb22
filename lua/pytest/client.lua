-- pytest.client: lifecycle of the pytestmon co-process (`pytestmon --rpc`, msgpack-RPC over
-- stdio): lazy start, `configure`, restart after a crash, and requests. The editor never waits
-- on the co-process without a deadline: async() sends a `call` notification and the answer
-- comes back as a `reply` event (pytest.events) to a callback; request() waits for such an
-- answer with a deadline (start-up and :checkhealth only). Run results come as events.
local M = {}

local config = require('pytest.config')
local util = require('pytest.util')

local levels = vim.log.levels
local uv = vim.uv or vim.loop -- vim.loop: before 0.10

local S = {
  chan = nil, -- channel/job id of the live co-process
  exited = nil, -- exit code of a co-process that died unexpectedly (reported on restart)
  stopping = {}, -- job ids we stopped ourselves
  stderr = {}, -- last lines the co-process wrote to stderr
}

local STDERR_KEEP = 20

-- How long an async() request may take before its callback hears "no answer" (a `mem` of a
-- large process tree takes seconds), and how long request() blocks at most.
M.async_timeout_ms = 30000
M.request_timeout_ms = 10000

local pending = {} -- req_id -> { cb, method, chan, timer } of async() requests in flight
local next_req = 0

local function settle(id, ok, res)
  local p = pending[id]
  if not p then return end
  pending[id] = nil
  if p.timer then
    p.timer:stop()
    p.timer:close()
  end
  local cok, cerr = pcall(p.cb, ok, res)
  if not cok then
    util.notify(string.format('error handling the answer to %s: %s', p.method, tostring(cerr)), levels.ERROR)
  end
end

-- Every request in flight on `chan` fails with `why` (the co-process is gone).
local function fail_pending(chan, why)
  local ids = {}
  for id, p in pairs(pending) do
    if p.chan == chan then table.insert(ids, id) end
  end
  table.sort(ids)
  for _, id in ipairs(ids) do settle(id, false, why) end
end

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
  fail_pending(job, string.format('the co-process exited (code %d) before answering', code))
  if S.stopping[job] then -- we stopped it ourselves
    S.stopping[job] = nil
    return
  end
  if S.chan ~= job then return end -- a process we already gave up on
  S.chan = nil
  S.exited = code
  pcall(function() require('pytest.watch')._lost() end)
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

-- Sends `call` [id, method, params] on `chan`; cb(ok, result | message) runs once: with the
-- `reply` event, on timeout, or when the co-process exits.
local function call_on(chan, method, params, cb, timeout_ms)
  next_req = next_req + 1
  local id = next_req
  local timer = uv.new_timer()
  pending[id] = { cb = cb, method = method, chan = chan, timer = timer }
  timer:start(timeout_ms, 0, vim.schedule_wrap(function()
    settle(id, false, string.format('no answer to %s within %g s%s', method, timeout_ms / 1000, stderr_hint()))
  end))
  local ok, err = pcall(vim.rpcnotify, chan, 'call', id, method, params)
  if not ok then
    settle(id, false, string.format('request %s failed: %s%s', method, tostring(err):gsub('\n', ' '), stderr_hint()))
  end
  return id
end

-- Waits (with a deadline) for call_on()'s answer. Not for user commands: they use async().
local function wait_on(chan, method, params, timeout_ms)
  local done, ok, res = false, false, nil
  call_on(chan, method, params, function(o, r) done, ok, res = true, o, r end, timeout_ms)
  if not done then vim.wait(timeout_ms + 1000, function() return done end, 10) end
  if not done then return false, string.format('no answer to %s within %g s', method, timeout_ms / 1000) end
  return ok, res
end

-- The `reply` event (pytest.events): the answer to an async() request.
function M._reply(p)
  local id = tonumber(util.val(p.req_id))
  local entry = id and pending[id]
  if not entry then return end -- timed out already
  local e = util.val(p.error)
  if e ~= nil then
    settle(id, false, string.format('request %s failed: %s', entry.method, tostring(e)))
  else
    settle(id, true, util.val(p.result))
  end
end

-- Requests in flight (tests, health).
function M.pending()
  return vim.tbl_count(pending)
end

function M.configure_payload()
  local cfg = config.get()
  return {
    log_dir = cfg.log_dir,
    history_size = cfg.history_size,
    sample_interval_ms = cfg.sample_interval_ms,
    editor_pid = vim.fn.getpid(),
    stream_failures = 1, -- results.stream keeps the failures of the `tests` events
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
  local rok, res = wait_on(job, 'configure', { M.configure_payload() }, M.request_timeout_ms)
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

-- async(method, params, cb, opts): send a request without waiting; cb(ok, result) runs later
-- with the answer, or cb(false, message) when there is none (co-process unavailable, error,
-- exit, or no answer within opts.timeout_ms, default M.async_timeout_ms). `params` is the
-- params list. Never notifies; returns true when the request went out.
function M.async(method, params, cb, opts)
  local chan, err = M.start()
  if not chan then
    cb(false, err)
    return false
  end
  call_on(chan, method, params or {}, cb, (opts and opts.timeout_ms) or M.async_timeout_ms)
  return true
end

-- Like async(), but failures are reported with vim.notify and cb only hears of success.
function M.async_call(method, params, cb, opts)
  return M.async(method, params, function(ok, res)
    if not ok then
      util.notify(res, levels.ERROR)
      return
    end
    cb(res)
  end, opts)
end

-- Send a request and wait for its answer (at most M.request_timeout_ms); returns true, result
-- or false, message. Never notifies. Not for user commands (see async()).
function M.request(method, ...)
  local chan, err = M.start()
  if not chan then return false, err end
  return wait_on(chan, method, { ... }, M.request_timeout_ms)
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

-- Re-send `configure` to a running co-process (after setup()); a refusal is reported.
function M.reconfigure()
  if S.chan then
    call_on(S.chan, 'configure', { M.configure_payload() }, function(ok, res)
      if not ok then util.notify(res, levels.ERROR) end
    end, M.async_timeout_ms)
  end
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
  fail_pending(job, 'the co-process was stopped before answering')
  return true
end

return M
