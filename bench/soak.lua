-- bench/soak.lua: N consecutive :PytestRun in `nvim --headless --clean`, driven by bench/soak.py.
-- Env: SOAK_CWD (suite), SOAK_N (runs), SOAK_OUT (JSON result file).
-- After every run: the failing node ids must equal the first run's (and status "failed");
-- co-process VmRSS and open fds are recorded after runs 1, 10, 100, ... and N. After the
-- last run (and 500 ms), every process whose parent is the co-process, or whose cwd is the
-- suite (other than this nvim), is listed (leftovers, zombies). RSS/fds are read 200 ms after
-- `finished`, once the run's handles are closed.
local uv = vim.uv or vim.loop -- vim.loop: before 0.10
local cwd = os.getenv('SOAK_CWD')
local n = tonumber(os.getenv('SOAK_N') or '1000')
local out = os.getenv('SOAK_OUT')

require('pytest').setup({ python = '/usr/bin/python3', notify = false })
assert(require('pytest.client').start(), 'co-process did not start')
local co_pid = vim.fn.jobpid(require('pytest.client').channel())

local function status_kb(pid, key)
  local f = io.open('/proc/' .. pid .. '/status')
  if not f then return nil end
  for line in f:lines() do
    local v = line:match('^' .. key .. ':%s+(%d+)')
    if v then f:close() return tonumber(v) end
  end
  f:close()
end

local function fds(pid)
  local h = uv.fs_scandir('/proc/' .. pid .. '/fd')
  local c = 0
  while h and uv.fs_scandir_next(h) do c = c + 1 end
  return c
end

local function procs_of_interest()
  local found = {}
  local h = uv.fs_scandir('/proc')
  while h do
    local name = uv.fs_scandir_next(h)
    if not name then break end
    if name:match('^%d+$') and tonumber(name) ~= co_pid and tonumber(name) ~= vim.fn.getpid() then
      local f = io.open('/proc/' .. name .. '/stat')
      local s = f and f:read('*a')
      if f then f:close() end
      if s then
        local comm, rest = s:match('%((.*)%) (.*)')
        local state, ppid = rest:match('^(%S+) (%d+)')
        local pcwd = uv.fs_readlink('/proc/' .. name .. '/cwd')
        if tonumber(ppid) == co_pid or pcwd == cwd then
          table.insert(found, { pid = tonumber(name), comm = comm, state = state, ppid = tonumber(ppid) })
        end
      end
    end
  end
  return found
end

local res = { n = n, co_pid = co_pid, rss = {}, fds = {}, bad = {}, seconds = {} }
local expected
local i = 0
local t_run

local function record(k)
  res.rss[tostring(k)] = status_kb(co_pid, 'VmRSS')
  res.fds[tostring(k)] = fds(co_pid)
end
record(0)

local function finish()
  vim.defer_fn(function()
    res.leftover = procs_of_interest()
    res.co_alive = status_kb(co_pid, 'VmRSS') ~= nil
    local f = assert(io.open(out, 'w'))
    f:write(vim.fn.json_encode(res))
    f:close()
    vim.cmd('qa!')
  end, 500)
end

local start_next
vim.api.nvim_create_autocmd('User', {
  pattern = 'PytestFinished',
  callback = function()
    local r = require('pytest').last() or {}
    table.insert(res.seconds, (uv.hrtime() - t_run) / 1e9)
    local ids = {}
    for _, f in ipairs(r.failures or {}) do table.insert(ids, f.nodeid) end
    table.sort(ids)
    local key = table.concat(ids, ' ')
    if not expected then
      expected = key
      res.expected = ids
    end
    if key ~= expected or r.status ~= 'failed' then
      table.insert(res.bad, { run = i, status = r.status, ids = ids })
    end
    if i % 100 == 0 then io.stderr:write(string.format('soak: %d/%d runs\n', i, n)) end
    local function go_on()
      if i >= n then finish() else vim.schedule(start_next) end
    end
    if i == 1 or i == 10 or i % 100 == 0 or i == n then
      -- the co-process closes the run's handles right after `finished`: settle first
      vim.defer_fn(function() record(i) go_on() end, 200)
    else
      go_on()
    end
  end,
})

vim.cmd('cd ' .. vim.fn.fnameescape(cwd))
start_next = function()
  i = i + 1
  t_run = uv.hrtime()
  vim.cmd('PytestRun')
end
start_next()
