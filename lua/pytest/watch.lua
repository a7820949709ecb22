-- pytest.watch: :PytestWatch. The co-process keeps the project's import graph and decides
-- what a save reruns (its `watch` method); this module only toggles watching, tells the
-- co-process about every write of a .py file (BufWritePost -> `saved`, a notification
-- answered later, never waited on) and shows what the co-process decided (`watch` events).
local M = {}

local config = require('pytest.config')
local util = require('pytest.util')

local levels = vim.log.levels

local GROUP = 'pytest_watch'

local S = {
  on = false,
  root = nil, -- the project root the co-process watches (from its answer)
  args = nil, -- the watched selection, as given to :PytestWatch
  last = nil, -- the last `watch` event
  runs = {}, -- run_id -> the `watch` event {state = 'run'} that started it (the latest few)
  run_ids = {}, -- their ids, oldest first
}

local KEEP_RUNS = 20 -- a history's worth of watch runs is described by what started them

function M.is_on()
  return S.on
end

-- The last `watch` event from the co-process (tests, statusline), or nil.
function M.last()
  return S.last
end

local function saved(file)
  require('pytest.client').async('saved', { { file = file } }, function(ok, res)
    if not ok then util.notify('watch: ' .. tostring(res), levels.WARN) end
  end)
end

local function clear_autocmds()
  pcall(vim.api.nvim_del_augroup_by_name, GROUP)
end

local function set_off()
  S.on = false
  S.root = nil
  clear_autocmds()
  require('pytest.statusline').update()
end

-- start(args, {cwd, file}): watch the project of `file` (default: the current buffer) with
-- `args` (list) as the selection. Never waits; returns true when the request went out.
function M.start(args, opts)
  opts = opts or {}
  local request = require('pytest.request')
  local req = request.with_limits(request.block({ cwd = opts.cwd, file = opts.file, args = args }))
  req.debounce_ms = config.get().watch_debounce_ms
  S.on = true
  S.args = args or {}
  -- Saves from now on count; the co-process holds them until its graph is built.
  vim.api.nvim_create_autocmd('BufWritePost', {
    group = vim.api.nvim_create_augroup(GROUP, { clear = true }),
    pattern = '*.py',
    callback = function(ev)
      if S.on then saved(util.abspath(ev.match ~= '' and ev.match or ev.file)) end
    end,
  })
  require('pytest.statusline').update()
  return request.send('watch', req, nil, function(ok, res)
    if not ok then
      util.notify('watch: ' .. tostring(res), levels.ERROR)
      return set_off()
    end
    if not S.on then return end -- stopped before the answer came
    S.root = type(res) == 'table' and util.val(res.root) or nil
    util.notify('watching ' .. tostring(S.root) .. ' (:PytestWatch again or :PytestStop ends it)')
  end)
end

-- stop(): ends watching (the run in progress goes on). Returns whether watching was on.
function M.stop()
  if not S.on then return false end
  set_off()
  local client = require('pytest.client')
  if client.is_running() then
    client.async('unwatch', {}, function() end)
  end
  util.notify('watching stopped')
  return true
end

-- :PytestWatch [args]: toggles.
function M.toggle(args)
  if S.on then
    M.stop()
    return false
  end
  return M.start(args)
end

-- Files the co-process did not read (too big): one line naming them.
local function skipped_note(p)
  local names, why = {}, nil
  for _, s in ipairs(util.list(util.val(p.skipped))) do
    if type(s) == 'table' then
      table.insert(names, vim.fn.fnamemodify(tostring(util.val(s.file)), ':t'))
      why = why or util.val(s.why)
    end
  end
  if #names > 0 then
    util.notify(string.format('watch: %s: %s', table.concat(names, ', '), tostring(why or 'not read')))
  end
end

-- What a watch run ran, for its quickfix title and the history, or nil for a run watch did not
-- start: "watch: 12 files after pkg/m.py" (its argv names every affected test file by its
-- absolute path: 700 characters of title for 12 files).
function M.describe_run(r)
  local val, list = util.val, util.list
  local p = type(r) == 'table' and S.runs[val(r.run_id)]
  if not p or not vim.deep_equal(list(val(p.args)), list(val(r.args))) then return nil end
  local root = val(p.root) or S.root or val(r.root) or ''
  local function rel(f) return util.relpath(tostring(f), root) end
  local tests, saved = list(val(p.tests)), list(val(p.saved))
  local what
  if val(p.whole) == true then
    what = #S.args > 0 and 'the watched selection' or 'every test'
  elseif #tests == 1 then
    what = rel(tests[1])
  else
    what = string.format('%d files', #tests)
  end
  local after = #saved == 0 and 'a save' or rel(saved[1])
  if #saved > 1 then after = string.format('%s and %d more', after, #saved - 1) end
  return util.clean(string.format('watch: %s after %s', what, after))
end

local function remember_run(p)
  local id = util.val(p.run_id)
  if type(id) ~= 'number' then return end
  if not S.runs[id] then table.insert(S.run_ids, id) end
  S.runs[id] = p
  while #S.run_ids > KEEP_RUNS do S.runs[table.remove(S.run_ids, 1)] = nil end
end

-- The `watch` event (pytest.events): what the co-process decided.
function M._event(p)
  S.last = p
  local st = util.val(p.state)
  if st == 'run' then remember_run(p) end
  if st == 'off' then
    if S.on then set_off() end
  elseif st == 'ready' and util.val(p.error) then
    util.notify(string.format('watch: cannot read %s: %s', tostring(util.val(p.root)), tostring(util.val(p.error))),
      levels.WARN)
  elseif st == 'ready' and util.val(p.truncated) == true then
    local why = util.val(p.why)
    util.notify(string.format('watch: the import graph is incomplete (%s); every save reruns the whole selection',
      why and tostring(why) or 'too many files'), levels.WARN)
  elseif st == 'idle' then
    local names = {}
    for _, f in ipairs(util.list(util.val(p.saved))) do
      table.insert(names, vim.fn.fnamemodify(tostring(f), ':t'))
    end
    util.notify('watch: no watched test depends on ' .. table.concat(names, ', '))
  end
  if st == 'ready' or st == 'run' or st == 'idle' then skipped_note(p) end
  util.fire('PytestWatch', p)
end

-- The co-process went away: its watch went with it (and a new one counts runs from 1 again).
function M._lost()
  S.runs, S.run_ids = {}, {}
  if S.on then
    set_off()
    util.notify('watching stopped: the co-process exited', levels.WARN)
  end
end

return M
