-- pytest.tree: the model of the suite as pytest sees it. Nodes come from the co-process's
-- `collection` event (what pytest collects, with each test's file and definition lines, the
-- classes around them and the collection errors); statuses, durations and peak RSS growth
-- come from the live `tests` events of a run and from `finished` (its failures, for runs
-- without our pytest plugin). The views (pytest.marks in buffers, pytest.summary in the side
-- window) are told what changed, in batches: at most one flush per M.flush_ms, with only the
-- changed nodes, so a 20,000-test run never redraws everything per event.
--
-- Node kinds: "dir", "file", "class", "test" (a function), "group" (a parametrized function,
-- whose children are its "case"s), "error" (a collection error, under its file) and "subtest"
-- (a subtest a run reported and pytest counts: pytest 9's subtests or pytest-subtests, a child
-- of its "test" or "case", which keeps its own status). Leaves ("test", "case", "error",
-- "subtest") carry a status: nil (not run yet), "running", "passed", "failed", "error",
-- "skipped", "xfailed", "xpassed". Every node counts its leaves by category (M.category)
-- incrementally, so an aggregate is always at hand: a test with subtests counts itself and them,
-- as pytest's "3 failed" does.
--
-- A node's `file` and `line` are where it is defined. A class or function that a test module
-- imports from another one (`from test_signer import TestSigner`: pytest collects it again as
-- test_timed.py::TestSigner) is defined in that other file: it also gets `at_file`/`at_line`,
-- the line of the importing module that brings it in (the import, else the assignment that
-- binds its name), where its mark goes in the importing file. An imported class has its mark
-- there only; an imported function also shares the mark at its definition, as an inherited
-- test does.
local M = {}

local config = require('pytest.config')
local state = require('pytest.state')
local util = require('pytest.util')

local val = util.val
local levels = vim.log.levels
local uv = vim.uv or vim.loop -- vim.loop: before 0.10

M.flush_ms = 100
M.slow_floor_s = 0.1 -- a duration shorter than this is never "among the slowest"

-- status -> category counted by every ancestor
local CATEGORY = {
  running = 'running',
  passed = 'passed',
  xpassed = 'passed',
  failed = 'failed',
  error = 'failed',
  skipped = 'skipped',
  xfailed = 'skipped',
}
M.CATEGORIES = { 'failed', 'running', 'passed', 'skipped', 'notrun' }

function M.category(status)
  return CATEGORY[status or ''] or 'notrun'
end

local S = {
  root = nil, -- absolute project root of the tree (from `collection` or a run's `started`)
  nodes = {}, -- node id -> node
  top = {}, -- the root's children
  by_file = {}, -- absolute file -> line -> list of nodes with a mark there (tests, groups, classes, errors)
  collected = false, -- a `collection` event built the tree
  collect_id = nil, -- the newest `collect` request answered
  asked = 0, -- `collect` requests sent and not answered yet
  done_id = nil, -- the newest collection whose event was handled
  collect_ms = nil,
  collect_error = nil,
  run_id = nil,
  running = false,
  slowest = {}, -- leaves of the current run with the largest durations, largest first
  -- what changed since the last flush
  dirty_nodes = {}, -- node -> true
  dirty_keys = {}, -- file -> line -> true
  structure = false, -- nodes were added or removed: views rebuild
  scheduled = false,
  timer = nil,
  generation = 0, -- bumped by every rebuild (views drop what they kept of older nodes)
}

-- The tree being built from a `collection` event, a batch of items per event-loop turn (20,000
-- items take ~100 ms of Lua): a table like S, made the live one when complete.
local building = nil

-- collect_id -> true: asked for by the user (:PytestSummary, collect(), a write), so a failure is
-- told; the first run's own collection fails silently (the run says what is wrong).
local loud = {}

-- views: { flush = function(dirty_nodes, dirty_keys, structure) } registered by marks/summary
local views = {}

function M.register(name, view)
  views[name] = view
end

local function new_counts()
  return { failed = 0, running = 0, passed = 0, skipped = 0, notrun = 0, total = 0 }
end

local function is_leaf(n)
  return n.kind == 'test' or n.kind == 'case' or n.kind == 'error' or n.kind == 'subtest'
end
M.is_leaf = is_leaf

local function dirty_key(file, line)
  local f = S.dirty_keys[file]
  if not f then
    f = {}
    S.dirty_keys[file] = f
  end
  f[line] = true
end

local function mark_key_dirty(n)
  if n.file and n.line and not (n.kind == 'class' and n.at_file) then dirty_key(n.file, n.line) end
  if n.at_file then dirty_key(n.at_file, n.at_line) end
end

local function flush()
  S.scheduled = false
  local nodes, keys, structure = S.dirty_nodes, S.dirty_keys, S.structure
  S.dirty_nodes, S.dirty_keys, S.structure = {}, {}, false
  for name, v in pairs(views) do
    local ok, err = pcall(v.flush, nodes, keys, structure)
    if not ok then util.notify(string.format('error updating the %s: %s', name, tostring(err)), levels.ERROR) end
  end
end

-- Views hear of changes at most once per M.flush_ms (the first change waits for the next turn
-- of the event loop at least; `now` flushes on the next turn: a new tree, a finished run).
local function schedule(now)
  if S.scheduled and not now then return end
  if now then
    if S.timer then S.timer:stop() end
    S.scheduled = true
    vim.schedule(function() if S.scheduled then flush() end end)
    return
  end
  S.scheduled = true
  if not S.timer then S.timer = uv.new_timer() end
  S.timer:start(M.flush_ms, 0, vim.schedule_wrap(function() if S.scheduled then flush() end end))
end

-- Flush what is pending now (tests, bench).
function M.flush()
  if S.timer then S.timer:stop() end
  flush()
end

-- A leaf's status changed from `old` to its current one: every ancestor's counts follow.
local function recount(leaf, old)
  local oc, nc = M.category(old), M.category(leaf.status)
  local n = leaf
  while n do
    if oc ~= nc then
      n.counts[oc] = n.counts[oc] - 1
      n.counts[nc] = n.counts[nc] + 1
    end
    S.dirty_nodes[n] = true
    if n.kind ~= 'dir' and n.kind ~= 'file' and n.kind ~= 'case' and n.kind ~= 'subtest' then mark_key_dirty(n) end
    n = n.parent
  end
end

-- Splits a node id into its path, the names of its classes and function, and its parameters
-- ("[...]", which may hold "::" and "[" themselves): "a/t.py::C::f[x::y]" ->
-- "a/t.py", {"C", "f"}, "[x::y]".
function M.split_nodeid(id)
  local sep = id:find('::', 1, true)
  if not sep then return id, {}, nil end
  local path, rest = id:sub(1, sep - 1), id:sub(sep + 2)
  local b = rest:find('[', 1, true)
  local params
  if b then
    params = rest:sub(b)
    rest = rest:sub(1, b - 1)
  end
  local parts, i = {}, 1
  while true do
    local j = rest:find('::', i, true)
    if not j then break end
    parts[#parts + 1] = rest:sub(i, j - 1)
    i = j + 2
  end
  parts[#parts + 1] = rest:sub(i)
  return path, parts, params
end

local function abs(path)
  if path:sub(1, 1) == '/' or not S.root then return path end
  return util.join(S.root, path)
end

local function add_child(parent, n)
  n.parent = parent
  table.insert(parent and parent.children or S.top, n)
end

local function node(id, kind, name, parent)
  local n = S.nodes[id]
  if n then return n end
  n = { id = id, kind = kind, name = name, children = {}, counts = new_counts() }
  S.nodes[id] = n
  add_child(parent, n)
  S.structure = true
  return n
end

-- The file node of `path` (relative to the root), with its directories.
local function file_node(path)
  local n = S.nodes[path]
  if n then return n end
  local parent = nil
  local acc = nil
  local parts = vim.split(path, '/', true)
  for i = 1, #parts - 1 do
    acc = acc and (acc .. '/' .. parts[i]) or parts[i]
    if parts[i] ~= '' then
      parent = node(acc, 'dir', parts[i], parent)
      parent.file = parent.file or abs(acc)
    end
  end
  n = node(path, 'file', parts[#parts], parent)
  n.file = abs(path)
  return n
end

local function add_leaf_counts(leaf, by)
  by = by or 1
  local c = M.category(leaf.status)
  local n = leaf
  while n do
    n.counts[c] = n.counts[c] + by
    n.counts.total = n.counts.total + by
    n = n.parent
  end
end

-- The node of subtest `desc` (pytest's description of it, "[msg] (i=1)") of test leaf `test`,
-- made when missing: a leaf among the test's children, its id the test's node id, NUL, `desc`
-- (no node id holds a NUL), its `nodeid` the test's (a rerun, its output: the test's).
local function subtest_node(test, desc)
  local key = (test.nodeid or test.id) .. '\0' .. desc
  local n = S.nodes[key]
  if n then return n end
  n = { id = key, nodeid = test.nodeid or test.id, subtest = desc, kind = 'subtest', name = desc,
        counts = new_counts(), parent = test }
  S.nodes[key] = n
  test.children = test.children or {}
  table.insert(test.children, n)
  add_leaf_counts(n)
  S.structure = true
  return n
end

-- Drops the subtests of `test` an earlier run reported (its result of this run is coming).
local function drop_subtests(test)
  local keep = {}
  for _, c in ipairs(test.children) do
    if c.run == S.run_id then
      table.insert(keep, c)
    else
      add_leaf_counts(c, -1)
      S.nodes[c.id] = nil
      S.dirty_nodes[c] = nil
      S.structure = true
    end
  end
  test.children = #keep > 0 and keep or nil
  S.dirty_nodes[test] = true
end

-- The leaf of `nodeid`, made (with its file, classes and group) when missing. A test a run
-- reports that the collection did not know (the tree is older than the file) gets no line.
local function leaf_node(nodeid)
  local n = S.nodes[nodeid]
  if n then return n end
  local path, parts, params = M.split_nodeid(nodeid)
  if #parts == 0 then return nil end -- not a test's node id
  local parent = file_node(path)
  local acc = path
  for i = 1, #parts - 1 do
    acc = acc .. '::' .. parts[i]
    parent = node(acc, 'class', parts[i], parent)
    parent.file = parent.file or abs(path)
  end
  if params then
    acc = acc .. '::' .. parts[#parts]
    parent = node(acc, 'group', parts[#parts], parent)
    n = node(nodeid, 'case', params, parent)
  else
    n = node(nodeid, 'test', parts[#parts], parent)
  end
  n.children = nil -- a leaf
  add_leaf_counts(n)
  return n
end

local function index_at(n, file, line)
  local f = S.by_file[file]
  if not f then
    f = {}
    S.by_file[file] = f
  end
  local at = f[line]
  if not at then
    at = {}
    f[line] = at
  end
  table.insert(at, n)
end

-- Where `n`'s mark goes: its definition (not for an imported class) and its import point.
local function index_mark(n)
  if not (n.file and n.line) then return end
  if not (n.kind == 'class' and n.at_file) then index_at(n, n.file, n.line) end
  if n.at_file then index_at(n, n.at_file, n.at_line) end
end

-- Whether two absolute paths name one file (util.same_file), cached per pair for the tree
-- being built.
local function same_file(a, b)
  if not S.same_file then S.same_file = {} end
  return util.same_file(a, b, S.same_file)
end

-- The lines of `file` (a test module) that bind names at its top level: name -> line of the
-- `from ... import` (the name's own line in a parenthesised list; `as` names the binding) or of
-- an assignment `NAME = ...`, the last binding winning as in Python; '*' -> a star import's
-- line. Read once per file for the tree being built; the module is only read, never run.
local function import_points(file)
  local cache = S.import_points
  if not cache then
    cache = {}
    S.import_points = cache
  end
  if cache[file] then return cache[file] end
  local points = {}
  cache[file] = points
  local ok, lines = pcall(vim.fn.readfile, file)
  if not ok or type(lines) ~= 'table' then return points end
  local function bind(text, lnum)
    text = text:gsub('#.*$', ''):gsub('[()\\]', ' ')
    for chunk in text:gmatch('[^,]+') do
      local _, b = chunk:match('^%s*([%w_]+)%s+as%s+([%w_]+)%s*$')
      local name = b or chunk:match('^%s*([%w_]+)%s*$') or (chunk:match('^%s*%*%s*$') and '*')
      if name then points[name] = lnum end
    end
  end
  local i, n = 1, #lines
  while i <= n do
    local l = lines[i]
    local names = l:match('^%s*from%s+[%w_.]+%s+import%s+(.*)$')
    if names then
      bind(names, i)
      local open = names:gsub('#.*$', ''):find('(', 1, true) and not names:gsub('#.*$', ''):find(')', 1, true)
      local cont = names:gsub('#.*$', ''):match('\\%s*$')
      while (open or cont) and i < n do
        i = i + 1
        local t = lines[i]:gsub('#.*$', '')
        bind(t, i)
        if open then open = not t:find(')', 1, true) end
        cont = t:match('\\%s*$')
      end
    else
      local name = l:match('^([%a_][%w_]*)%s*=[^=]')
      if name then points[name] = i end
    end
    i = i + 1
  end
  return points
end

-- A node pytest collected in module `fnode` (a file node, its parent) but defined in another
-- file: it gets the line of that module which brings it in (at_file, at_line).
local function note_import(n)
  local fnode = n.parent
  if not (fnode and fnode.kind == 'file' and fnode.file and n.file) or n.at_file then return end
  if same_file(n.file, fnode.file) then return end
  local points = import_points(fnode.file)
  n.at_file = fnode.file
  n.at_line = points[n.name] or points['*'] or 1
end

local function reset(root)
  building = nil -- a tree being built for the old root is dropped
  S.root = root
  S.nodes, S.top, S.by_file = {}, {}, {}
  S.collected = false
  S.slowest = {}
  S.dirty_nodes, S.dirty_keys = {}, {}
  S.structure = true
  S.generation = S.generation + 1
end

local function field(e, key, idx)
  local v = val(e[key])
  if v == nil then v = val(e[idx]) end
  return v
end

-- The line of a collection error: where the message names the file ("test_x.py:3: in
-- <module>", "File ".../test_x.py", line 3"), else 1.
local function error_line(file, message)
  local base = vim.fn.fnamemodify(file, ':t')
  local esc = vim.pesc(base)
  local l = message:match(esc .. ':(%d+)') or message:match(esc .. '", line (%d+)')
  return tonumber(l) or 1
end

M.collect_batch = 1000 -- items added to a new tree per event-loop turn

local live_tree = nil -- while a new tree is built: the live one (S is the new one then)

-- What the runs said of a test (and its subtests) carries over from the live tree to the new one.
local function carry_over(n, prev)
  if prev and prev.status and n.kind ~= 'error' and is_leaf(prev) then
    local was = n.status
    n.status, n.duration, n.rss, n.message = prev.status, prev.duration, prev.rss, prev.message
    n.memory_limit, n.over_budget = prev.memory_limit, prev.over_budget
    n.peak, n.gc = prev.peak, prev.gc
    recount(n, was)
    for _, p in ipairs(prev.children or {}) do
      local c = subtest_node(n, p.subtest)
      local old = c.status
      c.status, c.duration, c.message, c.run, c.file, c.line = p.status, p.duration, p.message, p.run, p.file, p.line
      recount(c, old)
    end
  end
end

local function add_item(it)
  local nodeid = type(it) == 'table' and field(it, 'nodeid', 1)
  local n = type(nodeid) == 'string' and leaf_node(nodeid)
  if not n then return end
  local file, line, last = field(it, 'file', 2), tonumber(field(it, 'line', 3)), tonumber(field(it, 'end', 4))
  if type(file) == 'string' and file ~= '' then n.file = abs(file) end
  if line and line > 0 then n.line, n.end_line = line, last or line end
  local g = n.kind == 'case' and n.parent or nil
  if g then
    if not g.line and n.line then
      g.file, g.line, g.end_line = n.file, n.line, n.end_line
      note_import(g)
      index_mark(g)
    end
  else
    note_import(n)
    index_mark(n)
  end
  carry_over(n, live_tree and live_tree.nodes[nodeid])
end

local function add_class(c)
  local nodeid = type(c) == 'table' and field(c, 'nodeid', 1)
  local n = type(nodeid) == 'string' and S.nodes[nodeid]
  if n and n.kind == 'class' then
    local file, line, last = field(c, 'file', 2), tonumber(field(c, 'line', 3)), tonumber(field(c, 'end', 4))
    if type(file) == 'string' and file ~= '' then n.file = abs(file) end
    if line and line > 0 then n.line, n.end_line = line, last or line end
    note_import(n)
    index_mark(n)
  end
end

local function add_error(e)
  local nodeid = type(e) == 'table' and field(e, 'nodeid', 1)
  if type(nodeid) ~= 'string' then return end
  local file = field(e, 'file', 2)
  file = (type(file) == 'string' and file ~= '') and abs(file) or nil
  local msg = util.clean(tostring(field(e, 'message', 3) or 'collection error'), true)
  -- the session's own error (a conftest.py of the root that fails): at the top
  local fnode = nodeid ~= '' and file_node((M.split_nodeid(nodeid))) or nil
  local n = node(nodeid .. ' (collection error)', 'error', 'collection error', fnode)
  n.children = nil
  n.nodeid = nodeid ~= '' and nodeid or (S.root or '.')
  n.file = file or (fnode and fnode.file)
  if n.file and util.is_file(n.file) then
    n.line = error_line(n.file, msg)
    n.end_line = n.line
  end
  n.status, n.message = 'error', msg
  add_leaf_counts(n)
  index_mark(n)
end


-- Runs fn with S being the tree under construction (no event can come in between).
local function in_build(B, fn)
  local live = S
  S, live_tree = B, live
  local ok, err = pcall(fn)
  S, live_tree = live, nil
  if not ok then error(err, 0) end
end

-- The new tree is complete: the runs' results of the tests still there carry over, and it
-- becomes the live one (the views render it anew).
local function swap_in(B, id, changed)
  local live = S
  in_build(B, function() -- the tests a run reported while the tree was built
    for nodeid in pairs(changed) do
      local n = B.nodes[nodeid]
      if n and is_leaf(n) then carry_over(n, live.nodes[nodeid]) end
    end
  end)
  -- what the session knows, beyond the tree
  for _, k in ipairs({ 'collect_id', 'asked', 'done_id', 'run_id', 'running', 'scheduled', 'timer' }) do
    B[k] = live[k]
  end
  B.slowest = {}
  for _, n in ipairs(live.slowest) do
    if B.nodes[n.id] then table.insert(B.slowest, B.nodes[n.id]) end
  end
  B.generation = live.generation + 1
  B.structure = true
  S = B
  schedule(true)
  util.fire('PytestCollected', { collect_id = id, root = S.root, tests = M.count().total })
end

-- The `collection` event: {collect_id, root, items, classes, errors, ms} or {collect_id, error}.
function M.on_collection(p)
  local id = tonumber(val(p.collect_id))
  if id and S.collect_id and id < S.collect_id then return end -- a superseded collection
  S.done_id = id or S.done_id
  local err = val(p.error)
  if err ~= nil then
    S.collect_error = tostring(err)
    if id and loud[id] then util.notify('cannot collect the tests: ' .. S.collect_error, levels.WARN) end
    S.structure = true -- the summary says so
    schedule(true)
    util.fire('PytestCollected', { collect_id = id, error = S.collect_error })
    return
  end
  local root = val(p.root)
  if type(root) ~= 'string' or root == '' then root = S.root end
  local B = {
    root = root, nodes = {}, top = {}, by_file = {}, collected = true, collect_ms = val(p.ms),
    dirty_nodes = {}, dirty_keys = {}, slowest = {}, generation = S.generation,
  }
  local items = util.list(val(p.items))
  local job = { B = B, i = 1, changed = {} }
  building = job
  local function step()
    if building ~= job then return end -- a newer collection came
    local ok, e = pcall(in_build, B, function()
      local last = math.min(#items, job.i + M.collect_batch - 1)
      for k = job.i, last do add_item(items[k]) end
      job.i = last + 1
      if job.i > #items then
        for _, c in ipairs(util.list(val(p.classes))) do add_class(c) end
        for _, x in ipairs(util.list(val(p.errors))) do add_error(x) end
      end
    end)
    if not ok then
      building = nil
      util.notify('cannot build the test tree: ' .. tostring(e), levels.ERROR)
      return
    end
    if job.i <= #items then return vim.schedule(step) end
    building = nil
    swap_in(B, id, job.changed)
  end
  step()
end

-- The slowest leaves of the current run (config marks_slowest of them): `n` got a duration.
local function note_duration(n)
  local want = config.get().marks_slowest
  local d = n.duration
  if want <= 0 or type(d) ~= 'number' or d < M.slow_floor_s then return end
  local list = S.slowest
  for i, x in ipairs(list) do
    if x == n then
      table.remove(list, i)
      break
    end
  end
  if #list >= want and d <= list[#list].duration then return end
  local pos = #list + 1
  for i, x in ipairs(list) do
    if d > x.duration then
      pos = i
      break
    end
  end
  table.insert(list, pos, n)
  mark_key_dirty(n.kind == 'case' and n.parent or n)
  while #list > want do
    local gone = table.remove(list)
    mark_key_dirty(gone.kind == 'case' and gone.parent or gone)
    S.dirty_nodes[gone] = true
  end
end

function M.is_slow(n)
  for _, x in ipairs(S.slowest) do
    if x == n then return true end
  end
  return false
end

local function set_result(n, status, duration, rss, message)
  if building then building.changed[n.nodeid or n.id] = true end
  local was = n.status
  n.status = status
  if duration ~= nil then n.duration = duration end
  if rss ~= nil then n.rss = rss end
  if message ~= nil then n.message = message end
  if status == 'running' then n.memory_limit = nil end -- run again: what it says comes anew
  recount(n, was)
  -- a subtest's time is its test's too: not one of the slowest on its own
  if duration ~= nil and status ~= 'running' and n.kind ~= 'subtest' then note_duration(n) end
end

-- The leaf a `tests` entry or a failure is of: a test, or a subtest of it (`subtest` given).
local function result_node(nodeid, subtest)
  local n = leaf_node(nodeid)
  if not n or n.kind == 'error' then return n end
  if type(subtest) == 'string' then
    local s = subtest_node(n, subtest)
    s.run = S.run_id
    return s
  end
  if n.children then drop_subtests(n) end
  return n
end

-- ms a first run (no tree yet) runs before the tree is collected beside it (on_started).
M.first_collect_delay_ms = 10000

-- The collection the first run (run_id) deferred (on_started): when it has ended or ran long
-- enough; nothing for an older run (its late `finished` after the next one started).
local function collect_deferred(run_id)
  local want = S.collect_after
  if not want or want.run_id ~= run_id then return end
  S.collect_after = nil
  if not S.collected and not M.collecting() and M.wanted(S.root) then
    M.collect({ cwd = want.cwd, python = want.python, quiet = true })
  end
end

-- A run started: tests reported from now on are of this run.
function M.on_started(p)
  S.run_id = val(p.run_id)
  S.running = true
  local root = val(p.root)
  if type(root) == 'string' and root ~= '' and root ~= S.root then
    if S.root == nil and next(S.nodes) == nil then
      S.root = root
    else
      reset(root) -- another project: its own tree
      schedule(true)
    end
  end
  local old = S.slowest
  S.slowest = {}
  for _, n in ipairs(old) do
    mark_key_dirty(n.kind == 'case' and n.parent or n)
    S.dirty_nodes[n] = true
  end
  -- No tree yet: it is collected as the run (its interpreter: a `python` function is not asked
  -- again; its root), once the run has ended or has run for first_collect_delay_ms. Not at its
  -- start: a second pytest collecting the suite beside a short run competes with it for the
  -- machine (6% of a 2 s `-n 2` run on two cores), while a long run is worth its live marks and
  -- pays little for them. The run's results make the tree's nodes meanwhile, and carry over.
  S.collect_after = nil
  if not S.collected then
    local want = { cwd = root or val(p.cwd), python = val(p.python), run_id = S.run_id }
    S.collect_after = want
    vim.defer_fn(function()
      if S.running then collect_deferred(want.run_id) end
    end, M.first_collect_delay_ms)
  end
  schedule()
end

-- The garbage collector's record of a test ({gen0, gen1, gen2, collected, uncollectable, gc_ns,
-- garbage_growth} in `tests` and test_output) as { collections = {g0, g1, g2}, collected,
-- uncollectable, ms, garbage, flagged } (flagged: it left uncollectable objects or grew
-- gc.garbage), or nil.
function M.gc_record(a)
  a = util.list(val(a))
  if #a < 7 then return nil end
  local v = {}
  for i = 1, 7 do
    v[i] = tonumber(val(a[i]))
    if not v[i] then return nil end
  end
  return {
    collections = { v[1], v[2], v[3] },
    collected = v[4],
    uncollectable = v[5],
    ms = v[6] / 1e6,
    garbage = v[7],
    flagged = v[5] > 0 or v[7] > 0,
  }
end

-- What a flagged record says: "uncollectable 3, gc.garbage +571", or nil.
function M.gc_flag_text(gc)
  if not gc or not gc.flagged then return nil end
  local parts = {}
  if gc.uncollectable > 0 then table.insert(parts, 'uncollectable ' .. gc.uncollectable) end
  if gc.garbage > 0 then table.insert(parts, 'gc.garbage +' .. gc.garbage) end
  return table.concat(parts, ', ')
end

-- A failure that names the memory limit that refused its allocation (`memory_limit` {cause,
-- sentence}, the co-process's reading of the facts our plugin gathered): the node keeps the cause.
local function note_memory_limit(n, f)
  local ml = val(f.memory_limit)
  if type(ml) == 'table' and type(val(ml.cause)) == 'string' then
    n.memory_limit = util.clean(ml.cause, true)
    S.dirty_nodes[n] = true
  end
end

-- The live `tests` event: {run_id, tests = {{nodeid, status, duration_s, rss_growth_bytes}, ...}}.
function M.on_tests(p)
  for _, t in ipairs(util.list(val(p.tests))) do
    if type(t) == 'table' then
      local nodeid = field(t, 'nodeid', 1)
      local status = field(t, 'status', 2)
      local n = type(nodeid) == 'string' and type(status) == 'string' and result_node(nodeid, val(t.subtest))
      if n then
        local d = tonumber(field(t, 'duration_s', 3))
        local rss = tonumber(field(t, 'rss_growth_bytes', 4))
        if rss and rss < 0 then rss = nil end
        set_result(n, status, status ~= 'running' and d or nil, rss, nil)
        local peak = tonumber(field(t, 'rss_peak_bytes', 6))
        if peak then n.peak = peak end
        local gc = M.gc_record(field(t, 'gc', 7))
        if gc or status == 'running' then n.gc = gc end
        local over = field(t, 'over_budget', 5) == true
        if over ~= (n.over_budget == true) then
          n.over_budget = over or nil
          S.dirty_nodes[n] = true
        end
      end
    end
  end
  for _, f in ipairs(util.list(val(p.failures))) do
    local n = type(f) == 'table' and type(val(f.nodeid)) == 'string' and leaf_node(val(f.nodeid))
    if n then note_memory_limit(n, f) end
  end
  schedule()
end

-- `finished`: the failures (with their messages; a run without our plugin sends no `tests`
-- events, and this is then all the tree learns), and tests left "running" (a cancelled run)
-- are not run after all.
function M.on_finished(p)
  S.running = false
  if S.root == nil and type(val(p.root)) == 'string' then S.root = val(p.root) end
  for _, f in ipairs(util.list(val(p.failures))) do
    local nodeid = val(f.nodeid)
    local subtest = val(f.subtest)
    local n = type(nodeid) == 'string' and (type(subtest) == 'string' and result_node(nodeid, subtest) or leaf_node(nodeid))
    if n then
      if n.kind == 'subtest' and not n.line then n.file, n.line = val(f.file), tonumber(val(f.line)) end
      local kind = tostring(val(f.kind) or 'failed')
      local st = kind:find('error', 1, true) and 'error' or 'failed'
      if n.status ~= 'failed' and n.status ~= 'error' then
        set_result(n, st, nil, nil, util.clean(tostring(val(f.message) or ''), true))
      else
        n.message = util.clean(tostring(val(f.message) or ''), true)
        S.dirty_nodes[n] = true
      end
      note_memory_limit(n, f)
    end
  end
  for _, n in pairs(S.nodes) do
    if n.status == 'running' then set_result(n, nil, nil, nil, nil) end
  end
  schedule(true)
  collect_deferred(val(p.run_id))
end

-- Whether a collection of `root` is worth its cost: the summary window is open, or marks are
-- on and a Python file under the root is loaded.
function M.wanted(root)
  if package.loaded['pytest.summary'] and require('pytest.summary').is_open() then return true end
  if not config.get().marks or not root then return false end
  for name in pairs(util.loaded_buffers()) do
    if name:sub(-3) == '.py' and util.relpath(name, root) ~= name then return true end
  end
  return false
end

-- Whether a collection is on its way: a `collect` request unanswered, a collection whose event
-- has not come, or a tree being built.
function M.collecting()
  return S.asked > 0 or building ~= nil or (S.collect_id ~= nil and (S.done_id or 0) < S.collect_id)
end

-- collect({cwd, file, python, debounce_ms, quiet}): asks the co-process to collect the suite
-- (async; the `collection` event follows). `cwd` (default: the tree's root, else the current
-- directory) and `file` (default then: the current buffer's) decide the root as for a run; the
-- configured python (or `python`), args and env are a run's. `quiet`: a failure is not told.
function M.collect(opts)
  opts = opts or {}
  local request = require('pytest.request')
  local file = opts.file
  if file == nil and (opts.cwd or S.root) then
    file = false -- the root is known: the current buffer does not decide it
  end
  -- Without a cwd or a root yet, the root is found from the current file, as for a run.
  local req = request.block({ cwd = opts.cwd or S.root, file = file })
  if opts.debounce_ms then req.debounce_ms = opts.debounce_ms end
  S.asked = S.asked + 1
  local sent = request.send('collect', req, { python = opts.python }, function(ok, res)
    S.asked = S.asked - 1
    if not ok then
      if opts.quiet then return end -- a collection of our own accord (the first run's)
      util.notify('cannot collect the tests: ' .. tostring(res), levels.WARN)
      return
    end
    local id = tonumber(res)
    if id and (S.collect_id == nil or id > S.collect_id) then S.collect_id = id end
    if id and not opts.quiet then loud[id] = true end
  end)
  if not sent then S.asked = S.asked - 1 end
  return sent
end

-- A Python file under the root was written: collect again (the co-process waits
-- collect_debounce_ms for more writes and drops a collection a newer one supersedes).
local function on_write(file)
  if not S.root or file:sub(-3) ~= '.py' or util.relpath(file, S.root) == file then return end
  if not S.collected and not M.wanted(S.root) then return end
  M.collect({ cwd = S.root, file = file, debounce_ms = config.get().collect_debounce_ms })
end

vim.api.nvim_create_autocmd('BufWritePost', {
  group = vim.api.nvim_create_augroup('pytest_tree', { clear = true }),
  pattern = '*.py',
  callback = function(a) on_write(util.abspath(a.match ~= '' and a.match or a.file)) end,
})

-- One line of a pytest report to show: its last `E   ...` line (the exception), else its
-- first line.
function M.short_message(msg)
  msg = tostring(msg or '')
  local e
  for l in msg:gmatch('[^\n]+') do
    if l:match('^E%s') then e = l end
  end
  return util.clean(e or msg:match('[^\n]*') or '')
end

-- Internal access for the views.
function M._state()
  return S
end

function M.node(id)
  return S.nodes[id]
end

-- Nodes with a mark at `line` of `file` (absolute), or nil; and the file's whole line map.
function M.marks_at(file, line)
  local f = S.by_file[file]
  return f and f[line]
end

function M.file_marks(file)
  return S.by_file[file]
end

-- The innermost node whose source contains `line` of `file` (a test or a case when it has
-- one; a class else), for :PytestOutput and the like.
function M.node_at(file, line)
  local f = S.by_file[file]
  if not f then return nil end
  local best
  local best_size
  for at, list in pairs(f) do
    for _, n in ipairs(list) do
      -- indexed at its import point (at_file): that line only
      local first, last = n.line, n.end_line or n.line
      if n.at_file == file and n.at_line == at then first, last = at, at end
      if first and first <= line and last >= line then
        if not best or (last - first) < best_size then best, best_size = n, last - first end
      end
    end
  end
  return best
end

-- Leaf counts of the whole tree.
function M.count()
  local c = new_counts()
  for _, n in ipairs(S.top) do
    for k, v in pairs(n.counts) do c[k] = c[k] + v end
  end
  return c
end

local function export(n)
  local e = {
    id = n.nodeid or n.id,
    kind = n.kind,
    name = n.name,
    file = n.file,
    line = n.line,
    end_line = n.end_line,
    at_file = n.at_file,
    at_line = n.at_line,
    counts = vim.deepcopy(n.counts),
  }
  if is_leaf(n) then
    e.status = n.status or 'notrun'
    e.duration = n.duration
    e.rss_growth = n.rss
    e.message = n.message
    e.subtest = n.subtest
    if n.children then -- a test's subtests
      e.children = {}
      for _, c in ipairs(n.children) do table.insert(e.children, export(c)) end
    end
    e.memory_limit = n.memory_limit
    e.over_budget = n.over_budget
    e.rss_peak = n.peak
    e.gc = n.gc
  else
    e.status = M.aggregate(n.counts)
    e.children = {}
    for _, c in ipairs(n.children) do table.insert(e.children, export(c)) end
  end
  return e
end

-- The status a node with these leaf counts shows: failed if any failed, running if any runs,
-- not run when none ran, skipped when all were skipped, else passed.
function M.aggregate(c)
  if c.failed > 0 then return 'failed' end
  if c.running > 0 then return 'running' end
  if c.notrun == c.total then return 'notrun' end
  if c.skipped + c.notrun == c.total then return 'skipped' end
  return 'passed'
end

-- require('pytest').tree(): the current tree as plain tables (see :help pytest.tree()).
function M.get()
  local out = {
    root = S.root,
    collected = S.collected,
    collecting = M.collecting(),
    collect_ms = S.collect_ms,
    collect_error = S.collect_error,
    run_id = S.run_id,
    running = S.running,
    counts = M.count(),
    nodes = {},
    tests = {},
  }
  for _, n in ipairs(S.top) do table.insert(out.nodes, export(n)) end
  local function leaves(list)
    for _, n in ipairs(list) do
      if n.children and not is_leaf(n) then
        leaves(n.children)
      else
        table.insert(out.tests, n)
        if n.children then leaves(n.children) end -- a test's subtests
      end
    end
  end
  leaves(out.nodes)
  return out
end

return M
