-- pytest.events: entry point of the co-process's pushed events. The co-process sends
-- `nvim_exec_lua` notifications running `require('pytest.events').dispatch(name, payload)`.
-- Each handler updates pytest.state and the views; errors are reported, never raised back.
local M = {}

local config = require('pytest.config')
local state = require('pytest.state')
local util = require('pytest.util')

local levels = vim.log.levels
local val = util.val

local handlers = {}

-- An event of an older run than the current one: a late `progress`/`finished` of a run that
-- was cancelled for a newer one. Run ids grow within a co-process and each run's `started`
-- comes before its other events, so `started` always makes its run the current one (also
-- after a co-process restart, which starts counting again), and any other event of an older
-- run is dropped, whether a run is active or not: a cancelled run's `finished` arrives after
-- the newer run already finished when that one ends within the old one's kill grace.
local function stale(p)
  local id = val(p.run_id)
  if type(id) ~= 'number' or state.run_id == nil then return false end
  if id < state.run_id then return true end
  state.run_id = id
  return false
end

-- The test tree (pytest.tree) and its views in buffers (pytest.marks).
local function tree()
  require('pytest.marks')
  return require('pytest.tree')
end

function handlers.started(p)
  state.running = true
  state.run_id = val(p.run_id) or state.run_id
  state.progress = nil
  state.tests = {}
  require('pytest.results').clear_diagnostics()
  require('pytest.statusline').update()
  if val(p.nearest_found) == false then util.notify('no test at the cursor; running the whole file') end
  tree().on_started(p)
  util.fire('PytestStarted', p)
end

function handlers.progress(p)
  if stale(p) then return end
  state.running = true
  state.progress = p
  require('pytest.statusline').update()
end

-- The tests whose state changed (the plugin's live stream): kept per node id for the views (a
-- subtest's entry is the tree's only: its test's stays the test's).
function handlers.tests(p)
  if stale(p) then return end
  if type(state.tests) ~= 'table' then state.tests = {} end
  for _, t in ipairs(util.list(p.tests)) do
    local id = val(t.nodeid)
    if type(id) == 'string' and val(t.subtest) == nil then state.tests[id] = t end
  end
  -- Failures as they happen: made into quickfix items now, so that `finished` need not bring
  -- them (failures_streamed) and the list is set the moment pytest exits.
  local failures = val(p.failures)
  if type(failures) == 'table' and #failures > 0 then require('pytest.results').stream(val(p.run_id), failures) end
  tree().on_tests(p) -- the test tree, its marks and summary
end

-- What User PytestFinished carries as autocmd `data` (0.8+): a few fields, not the result
-- (converting thousands of failures to Vim dicts took longer than setting the quickfix list);
-- require('pytest').last() has the whole result on every version.
local function finished_data(p)
  return {
    run_id = val(p.run_id),
    status = val(p.status),
    summary = val(p.summary),
    counts = type(val(p.counts)) == 'table' and p.counts or nil,
    seconds = val(p.seconds),
    pytest_seconds = val(p.pytest_seconds),
    nfailures = type(val(p.failures)) == 'table' and #p.failures or 0,
  }
end

-- The result's notification (and why a run died of memory, if it did).
local function notify_result(p)
  local results = require('pytest.results')
  local level = results.level(p)
  if config.get().notify or level >= levels.ERROR then
    local msg = results.describe(p)
    -- A run that died of memory says which limit (RLIMIT_AS for a pytest that could not start).
    local mem = val(p.memory)
    if type(mem) == 'table' and val(mem.memory_related) == true then
      local d = require('pytest.memory').diagnosis(p)
      if d then msg = msg .. ' — ' .. d end
    end
    util.notify(msg, level)
  end
end

-- The quickfix list, state and statusline are set at once and User PytestFinished fires;
-- what can wait (diagnostics, see results.show; the test tree; the notification) comes on
-- later event-loop turns, so a result with thousands of failures reaches the quickfix list first.
function handlers.finished(p)
  if stale(p) then return end
  state.running = false
  state.progress = nil
  state.view = nil
  local results = require('pytest.results')
  local streamed = nil
  local n = val(p.failures_streamed)
  if type(n) == 'number' then
    -- The failures came with the `tests` events; the result is whole again for everyone
    -- (require('pytest').last(), the tree, the diagnostics).
    streamed = results.take_streamed(val(p.run_id), n)
    p.failures = streamed and streamed.failures or {}
    if not streamed then
      util.notify(string.format('run %s: %d failures were announced but not all arrived; :PytestHistory has them',
        tostring(val(p.run_id)), n), levels.WARN)
    end
  end
  state.last = p
  results.show(p, { streamed = streamed })
  require('pytest.statusline').update()
  if p.coverage ~= nil then require('pytest.coverage').on_finished(p) end
  util.fire('PytestFinished', finished_data(p))
  vim.schedule(function()
    -- The test tree learns the failures' messages a turn later (~10 ms for 5,000 failures).
    local ok, err = pcall(tree().on_finished, p)
    if ok then ok, err = pcall(notify_result, p) end
    if not ok then util.notify('error handling the finished event: ' .. tostring(err), levels.ERROR) end
  end)
end

-- A coverage run's report (after its `finished`): see pytest.coverage.
function handlers.coverage(p)
  if stale(p) then return end
  require('pytest.coverage').on_event(p)
end

function handlers.status(p)
  state.status = p
  require('pytest.statusline').update()
end

function handlers.error(p)
  util.notify(tostring(val(p.message) or 'unknown co-process error'), levels.ERROR)
end

-- What the watch mode decided on a save (pytest.watch).
function handlers.watch(p)
  require('pytest.watch')._event(p)
end

-- :PytestDebug's session (pytest.debug).
function handlers.debug(p)
  require('pytest.debug')._event(p)
end

-- The answer to a request sent with pytest.client.async().
function handlers.reply(p)
  require('pytest.client')._reply(p)
end

-- The items of a large collection come in parts (`more` = true) before its last event: kept
-- here (the newest collection's only) and handed over whole.
local collection_parts = {}

-- The answer to `collect` (the suite as pytest collects it): the latest one is kept here, and
-- it is the test tree's nodes (pytest.tree).
function handlers.collection(p)
  local id = val(p.collect_id)
  local items = util.list(val(p.items))
  if val(p.more) == true then
    local acc = collection_parts[id]
    if not acc then
      acc = {}
      collection_parts = { [id] = acc }
    end
    for _, it in ipairs(items) do acc[#acc + 1] = it end
    return
  end
  local acc = collection_parts[id]
  collection_parts = {}
  if acc then
    for _, it in ipairs(items) do acc[#acc + 1] = it end
    p.items = acc
  end
  M.collection = p
  tree().on_collection(p)
end

M.handlers = handlers

-- dispatch(name, payload): unknown events are ignored (newer co-process, older shim).
function M.dispatch(name, payload)
  local h = handlers[name]
  if not h then return nil end
  if type(payload) ~= 'table' then payload = {} end
  local ok, err = pcall(h, payload)
  if not ok then
    util.notify(string.format('error handling the %s event: %s', tostring(name), tostring(err)), levels.ERROR)
  end
  return nil
end

return M
