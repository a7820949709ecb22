-- pytest.results: turns a `finished` result into what the user sees: a new quickfix list (one
-- entry per failure, plus crash sites), vim.diagnostic entries (also for buffers opened later),
-- the one-line summary and the :PytestSlowest list.
local M = {}

local config = require('pytest.config')
local util = require('pytest.util')

local levels = vim.log.levels
local val, list = util.val, util.list

M.ns = vim.api.nvim_create_namespace('pytest')

-- Buffers opened after a run get its diagnostics (0.7 has no autocmd `data`: use <abuf>).
vim.api.nvim_create_autocmd({ 'BufReadPost', 'BufWinEnter' }, {
  group = vim.api.nvim_create_augroup('pytest_diagnostics', { clear = true }),
  callback = function(a) require('pytest.results').on_buffer(a.buf) end,
})

-- The current result's failures by absolute file path, for diagnostics: file -> list of
-- failure indices (k: the failure at its line, -k: its crash site). The diagnostics of a file
-- are built from it when a buffer of that file is loaded (now or later), not for every file.
local by_file = {}
local by_file_result = nil
-- Quickfix list id -> { run_id, failures, src } of the pytest lists still on the stack: item i
-- of the list comes from failures[src[i]] (negative: that failure's crash site). qf_entry()
-- builds the entry table from it when asked. (Not the items' user_data: converting 5,000
-- tables to Vim dicts made setqflist() twice as slow; nor the list context, for the same reason.)
local lists = {}
-- Bumped whenever diagnostics are cleared: a deferred set_diagnostics of an older result
-- (see M.show) must not land after a newer run started.
local generation = 0

local COUNT_ORDER = { 'failed', 'passed', 'errors', 'skipped', 'deselected', 'xfailed', 'xpassed', 'subtests_passed' }

local function is_space(b) return b == 32 or (b ~= nil and b >= 9 and b <= 13) end

-- `s` without leading and trailing whitespace. Checks the ends first: most messages have
-- none, and Lua's '%s+$' rescans the string from every whitespace run.
local function trim(s)
  if is_space(s:byte(1)) then s = s:gsub('^%s+', '') end
  local e = #s
  while is_space(s:byte(e)) do e = e - 1 end
  return e < #s and s:sub(1, e) or s
end

local function first_line(s)
  s = trim(tostring(s or ''))
  local nl = s:find('\n', 1, true)
  return nl and trim(s:sub(1, nl - 1)) or s
end

local function one_line(s)
  s = trim(tostring(s or ''))
  if not s:find('\n', 1, true) then return s end
  return (s:gsub('%s*\n%s*', ' | '))
end

-- The args of a result/request for display ("tests/test_x.py -x").
-- The arguments as text to show (a title): capped as a node id is (util.id_text), as they may
-- hold one of a megabyte (a rerun of that test).
function M.args_text(args)
  args = val(args)
  local text
  if type(args) == 'table' then
    text = util.join_args(args)
  elseif args == nil then
    return ''
  else
    text = tostring(args)
  end
  return #text > util.id_max and util.id_text(text) or text
end

local function counts_text(r)
  local c = type(val(r.counts)) == 'table' and r.counts or {}
  local parts = {}
  for _, k in ipairs(COUNT_ORDER) do
    local n = val(c[k])
    if type(n) == 'number' and n > 0 then
      local word = k
      if k == 'errors' and n == 1 then word = 'error' end
      if k == 'subtests_passed' then word = 'subtests passed' end
      table.insert(parts, string.format('%d %s', n, word))
    end
  end
  local s = table.concat(parts, ', ')
  local secs = val(r.pytest_seconds) or val(r.seconds) -- pytest's own, else our clock
  if type(secs) == 'number' and s ~= '' then s = string.format('%s in %.2fs', s, secs) end
  return s
end

-- One line describing a result: the co-process's `summary`, which says it once ("3 failed,
-- 120 passed in 2.14s", "timed out after 1 s", "pytest usage error: ..."); a result without
-- one (an older co-process) is described from its status and counts.
function M.describe(r)
  local s = val(r.summary)
  if type(s) == 'string' and s ~= '' then return s end
  s = counts_text(r)
  local status = val(r.status) or ''
  local err = val(r.error) and first_line(r.error) or nil
  if status == 'error' then return 'could not run pytest: ' .. (err or val(r.exit_meaning) or 'unknown error') end
  if err then return s ~= '' and (err .. ': ' .. s) or err end
  if s ~= '' then return s end
  return val(r.exit_meaning) or status
end

function M.level(r)
  local st = val(r.status)
  if st == 'passed' then return levels.INFO end
  if st == 'failed' or st == 'no_tests' or st == 'cancelled' or st == 'interrupted' then return levels.WARN end
  return levels.ERROR
end

function M.title(r)
  local w = package.loaded['pytest.watch'] and require('pytest.watch').describe_run(r)
  if w then return util.clean('pytest ' .. w .. ': ' .. M.describe(r)) end
  local a = M.args_text(r.args)
  return util.clean('pytest' .. (a ~= '' and (' ' .. a) or '') .. ': ' .. M.describe(r))
end

-- The directory relative paths of `r` are meant from.
local function base_dir(r)
  return val(r.root) or val(r.cwd) or vim.fn.getcwd()
end

-- Absolute path of a failure's file: `file`, else the path part of the node id under `base`
-- (base_dir(r); computed once per result, this runs for every failure).
local function failure_file(f, base)
  local file = val(f.file)
  if type(file) ~= 'string' or file == '' then
    local nodeid = val(f.nodeid)
    file = type(nodeid) == 'string' and nodeid:match('^([^:]+)') or nil
    if not file or file == '' then return nil end
  end
  if file:sub(1, 1) ~= '/' then file = util.join(base, file) end
  return file
end

local function kind_label(f)
  local kind = val(f.kind) or 'failed'
  if kind == 'failed' then return '' end
  local when = val(f.when)
  if when and when ~= '' and when ~= 'call' and not kind:find(when, 1, true) then
    return string.format(' [%s in %s]', kind, when)
  end
  return string.format(' [%s]', kind)
end

-- Where failure `f` was raised (absolute file, line) when that is not where it is shown
-- (`file`, `line`), else nil. The one place the quickfix list and the diagnostics ask.
local function crash_site(f, base, file, line)
  local cfile = val(f.crash_file)
  local cline = tonumber(val(f.crash_line))
  if type(cfile) ~= 'string' or cfile == '' or not cline or cline <= 0 then return nil end
  if cfile:byte(1) ~= 47 then cfile = util.join(base, cfile) end -- 47: '/'
  -- The same line of the same file (by text, else by real path: asked only when the lines match).
  if cline == line and util.same_file(cfile, file) then return nil end
  return cfile, cline
end

-- Where a quickfix item goes: `bufnr` of the file's buffer (added, unlisted and unloaded, as
-- setqflist() would add it), looked up once per file through `bufs`. setqflist() resolving a
-- `filename` per item took 30 to 45 ms for 5,000 failures in 50 files; by bufnr, 3.5 ms.
local function place(item, file, bufs)
  if type(file) ~= 'string' or file == '' then
    item.filename = file
    return item
  end
  local b = bufs[file]
  if not b then
    b = vim.fn.bufadd(file)
    bufs[file] = b
  end
  item.bufnr = b
  return item
end

-- The node id as the quickfix entry at `file` (absolute) shows it: without its path part when
-- that is the entry's own file, which the list shows already ("tests/t.py|15 error| test_x: ...");
-- whole when the node lives in another file (an inherited or imported test, a crash site).
local function shown_id(nodeid, file)
  local sep = nodeid:find('::', 1, true)
  if not sep or type(file) ~= 'string' then return nodeid end
  local n = sep - 1 -- the path's length
  if #file == n then
    if file ~= nodeid:sub(1, n) then return nodeid end
  elseif #file < n + 1 or file:byte(-n - 1) ~= 47 or file:sub(-n) ~= nodeid:sub(1, n) then -- 47: '/'
    return nodeid
  end
  return nodeid:sub(sep + 2)
end
M.shown_id = shown_id

-- Quickfix items being made from failures: `items`, and index for index where each comes
-- from: src[i] = k for failures[k], -k for its crash site. `base` resolves relative paths (nil
-- while a run streams its failures: they are absolute then; one that is not makes the
-- accumulator `unusable`, and the list is made again from the finished result).
local function qf_acc(base)
  return { items = {}, src = {}, failures = {}, bufs = {}, n = 0, base = base }
end

-- Adds failures (a list) to `acc`: one pass, no per-item tables but the item itself, and the
-- texts checked for anything to clean in one scan of them all (util.clean per text kept LuaJIT
-- from compiling the loop: pattern find is not compiled; twice the time on 5,000 failures).
local function qf_add(acc, failures)
  local items, src, bufs, base = acc.items, acc.src, acc.bufs, acc.base
  local texts, first = {}, acc.n + 1
  local n = acc.n
  for _, f in ipairs(failures) do
    local k = #acc.failures + 1
    acc.failures[k] = f
    local nodeid = tostring(val(f.nodeid) or '?')
    if #nodeid > util.id_max then nodeid = util.id_text(nodeid) end -- the item's text only
    local sub = val(f.subtest) -- a subtest of the test: pytest's description of it
    sub = type(sub) == 'string' and (' ' .. sub) or ''
    if base == nil then -- streamed: absolute paths only (47: '/')
      local rf, cf = val(f.file), val(f.crash_file)
      if type(rf) ~= 'string' or rf:byte(1) ~= 47 or (type(cf) == 'string' and cf ~= '' and cf:byte(1) ~= 47) then
        acc.unusable = true
      end
    end
    local file = failure_file(f, base or '/')
    local line = tonumber(val(f.line)) or 0
    local raw = val(f.message)
    local msg = one_line(raw)
    n = n + 1
    local text = shown_id(nodeid, file) .. sub .. kind_label(f) .. (msg ~= '' and (': ' .. msg) or '')
    items[n] = place({ lnum = line, col = 0, type = 'E', text = text }, file, bufs)
    texts[#texts + 1] = text
    src[n] = k
    local cfile, cline = crash_site(f, base or '/', file, line)
    if cfile then
      n = n + 1
      local ctext = shown_id(nodeid, cfile) .. sub .. ' raised here' .. (msg ~= '' and (': ' .. first_line(raw)) or '')
      items[n] = place({ lnum = cline, col = 0, type = 'I', text = ctext }, cfile, bufs)
      texts[#texts + 1] = ctext
      src[n] = -k
    end
  end
  if not util.is_clean(table.concat(texts, ' ')) then
    for i = first, n do items[i].text = util.clean(items[i].text) end
  end
  acc.n = n
end

-- Quickfix items of `r` and, index for index, where each comes from (see qf_acc).
function M.qf_items(r)
  local acc = qf_acc(base_dir(r))
  qf_add(acc, list(r.failures))
  return acc.items, acc.src
end

-- The failures of the running run `run_id` as the `tests` events bring them, made into quickfix
-- items as they come (a run's first failures start a new accumulation).
local streamed = nil

function M.stream(run_id, failures)
  if streamed == nil or streamed.run_id ~= run_id then
    streamed = qf_acc(nil)
    streamed.run_id = run_id
  end
  qf_add(streamed, failures)
end

-- The failures streamed for `run_id` when there are `n` of them (a `finished` that says
-- failures_streamed = n), else nil; the accumulation is handed over (and forgotten here).
function M.take_streamed(run_id, n)
  local acc = streamed
  streamed = nil
  if acc == nil or acc.run_id ~= run_id or #acc.failures ~= n then return nil end
  return acc
end

-- The test a quickfix entry belongs to ({run_id, nodeid, subtest, kind, role}), for the pytest lists
-- still on the quickfix stack; nil for another list's entry. idx is 1-based; defaults to the
-- current entry.
function M.qf_entry(idx)
  -- (getqflist's idx = 0 names the current entry for `idx` itself: resolve the index first.)
  local info = vim.fn.getqflist({ idx = idx or 0, id = 0 })
  local l = lists[info.id]
  local k = l and l.src[info.idx]
  local f = k and l.failures[math.abs(k)]
  if type(f) ~= 'table' then return nil end
  return { run_id = l.run_id, nodeid = val(f.nodeid) or '?', subtest = val(f.subtest), kind = val(f.kind) or 'failed',
           role = k > 0 and 'failure' or 'crash' }
end

-- Keeps where the current quickfix list's items come from, and forgets lists that left the stack.
local function remember_list(r, src)
  for id in pairs(lists) do
    if vim.fn.getqflist({ id = id }).id ~= id then lists[id] = nil end
  end
  lists[vim.fn.getqflist({ id = 0 }).id] = { run_id = val(r.run_id), failures = list(r.failures), src = src }
end

local function set_buf_diagnostics(bufnr, diags)
  if not vim.api.nvim_buf_is_loaded(bufnr) then return end
  local n = vim.api.nvim_buf_line_count(bufnr)
  local clamped = {}
  for _, d in ipairs(diags) do
    local c = {}
    for key, v in pairs(d) do c[key] = v end
    if c.lnum >= n then c.lnum = math.max(n - 1, 0) end
    c.end_lnum = c.lnum
    table.insert(clamped, c)
  end
  vim.diagnostic.set(M.ns, bufnr, clamped)
end

-- Clear failures from diagnostics (start of a run).
function M.clear_diagnostics()
  generation = generation + 1
  by_file = {}
  by_file_result = nil
  vim.diagnostic.reset(M.ns)
end

local function diagnostic(f, k, base)
  local msg = val(f.message)
  msg = (type(msg) == 'string' and msg ~= '') and msg or (val(f.kind) or 'failed')
  if k > 0 then
    local label = kind_label(f)
    return {
      lnum = tonumber(val(f.line)) - 1,
      col = 0,
      severity = vim.diagnostic.severity.ERROR,
      source = 'pytest',
      message = util.clean((type(val(f.subtest)) == 'string' and (val(f.subtest) .. ': ') or '')
        .. (label ~= '' and (label:sub(2) .. ' ') or '') .. msg:gsub('%s+$', ''), true),
      user_data = { nodeid = val(f.nodeid), subtest = val(f.subtest) },
    }
  end
  local _, cline = crash_site(f, base, failure_file(f, base), tonumber(val(f.line)))
  return {
    lnum = cline - 1,
    col = 0,
    severity = vim.diagnostic.severity.INFO,
    source = 'pytest',
    message = util.clean(string.format('%s raised here: %s', util.id_text(val(f.nodeid) or '?'), first_line(msg))),
    user_data = { nodeid = val(f.nodeid) },
  }
end

-- The diagnostics of `file` in the current result (built on first use).
local function file_diagnostics(file)
  local refs = by_file[file]
  if not refs or not by_file_result then return nil end
  if refs.diags then return refs.diags end
  local r = by_file_result
  local failures, base = list(r.failures), base_dir(r)
  local diags = {}
  for i, k in ipairs(refs) do diags[i] = diagnostic(failures[math.abs(k)], k, base) end
  refs.diags = diags
  return diags
end

-- Show a result's failures with vim.diagnostic now in the loaded buffers of their files, and
-- in buffers opened later (on_buffer). Only those files' diagnostics are built.
function M.set_diagnostics(r)
  M.clear_diagnostics()
  if not config.get().diagnostics then return end
  local base = base_dir(r)
  for k, f in ipairs(list(r.failures)) do
    local file = failure_file(f, base)
    local line = tonumber(val(f.line))
    if file and line and line > 0 then
      local refs = by_file[file]
      if not refs then
        refs = {}
        by_file[file] = refs
      end
      refs[#refs + 1] = k
      local cfile, cline = crash_site(f, base, file, line)
      if cfile and cline > 0 then
        local crefs = by_file[cfile]
        if not crefs then
          crefs = {}
          by_file[cfile] = crefs
        end
        crefs[#crefs + 1] = -k
      end
    end
  end
  by_file_result = r
  for file, b in pairs(util.loaded_buffers()) do
    if by_file[file] then set_buf_diagnostics(b, file_diagnostics(file)) end
  end
end

-- BufReadPost/BufWinEnter: attach the current result's diagnostics to a newly shown buffer.
function M.on_buffer(bufnr)
  if next(by_file) == nil then return end
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' or not by_file[name] then return end
  if #vim.diagnostic.get(bufnr, { namespace = M.ns }) == 0 then
    set_buf_diagnostics(bufnr, file_diagnostics(name))
  end
end

local function open_qf(has_items)
  local mode = config.get().open_quickfix
  if mode == 'never' or (mode == 'on_failure' and not has_items) then return end
  local win = vim.api.nvim_get_current_win()
  local ok = pcall(vim.cmd, 'botright copen')
  if ok and vim.api.nvim_win_is_valid(win) then pcall(vim.api.nvim_set_current_win, win) end
end

-- Warnings (type W) of the tests over the run's memory budget (|pytest-memory_budget|), at their
-- definitions: `memory.over_budget` [{nodeid, growth, file, line}].
function M.budget_items(r)
  local mem = val(r.memory)
  local over = type(mem) == 'table' and list(val(mem.over_budget)) or {}
  local out, bufs = {}, {}
  local budget = type(mem) == 'table' and tonumber(val(mem.budget)) or 0
  for _, o in ipairs(over) do
    if type(o) == 'table' then
      local file = val(o.file)
      local nodeid = tostring(val(o.nodeid) or '?')
      if #nodeid > util.id_max then nodeid = util.id_text(nodeid) end
      local text = string.format('%s: peak RSS grew %s, over the %s memory budget', shown_id(nodeid, file),
        util.bytes(tonumber(val(o.growth)) or 0), util.bytes(budget))
      out[#out + 1] = place({ lnum = tonumber(val(o.line)) or 0, col = 0, type = 'W', text = util.clean(text) },
        type(file) == 'string' and file or nil, bufs)
    end
  end
  return out
end

-- Replace the quickfix list (a new list on the stack) with the failures of `r`, and the warnings
-- of the tests over the memory budget after them.
function M.set_quickfix(r, opts)
  opts = opts or {}
  local items, src
  if opts.streamed and not opts.streamed.unusable then
    items, src = opts.streamed.items, opts.streamed.src
  else
    items, src = M.qf_items(r)
  end
  local warnings = M.budget_items(r)
  if #warnings > 0 then -- a new list: the streamed one stays as it was given
    local all = {}
    for i, it in ipairs(items) do all[i] = it end
    for _, it in ipairs(warnings) do all[#all + 1] = it end
    items = all
  end
  vim.fn.setqflist({}, ' ', {
    title = M.title(r),
    items = items,
    context = { pytest = { run_id = val(r.run_id), root = val(r.root) } },
  })
  remember_list(r, src)
  if not opts.no_open then open_qf(#items > 0) end
  return items
end

-- Everything that happens when a run finishes (or a history entry is restored). The quickfix
-- list is set now; diagnostics follow on the next event-loop turn, so a result with thousands
-- of failures is shown in two short steps instead of one long stall.
function M.show(r, opts)
  opts = opts or {}
  M.clear_diagnostics()
  M.set_quickfix(r, opts)
  local gen = generation
  vim.schedule(function()
    if gen == generation then M.set_diagnostics(r) end
  end)
end

-- :PytestSlowest: the N slowest tests of `r` in a new quickfix list, at their definitions.
function M.slowest(r, n)
  local rows = {}
  for _, s in ipairs(list(r.slowest)) do table.insert(rows, s) end
  table.sort(rows, function(a, b) return (tonumber(val(a.seconds)) or 0) > (tonumber(val(b.seconds)) or 0) end)
  local items, bufs = {}, {}
  local base = base_dir(r)
  for i = 1, math.min(n, #rows) do
    local s = rows[i]
    local file = failure_file(s, base)
    table.insert(items, place({
      lnum = tonumber(val(s.line)) or 0,
      col = 0,
      text = util.clean(string.format('%7.3fs %s', tonumber(val(s.seconds)) or 0, val(s.nodeid) or '?')),
    }, file, bufs))
  end
  vim.fn.setqflist({}, ' ', {
    title = util.clean(string.format('pytest slowest %d: %s', #items, M.args_text(r.args))),
    items = items,
  })
  return items
end

return M
