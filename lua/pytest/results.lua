-- pytest.results: turns a `finished` result into what the user sees: a new quickfix list (one
-- entry per failure, plus crash sites), vim.diagnostic entries (also for buffers opened later),
-- the one-line summary and the :PytestSlowest list.
local M = {}

local config = require('pytest.config')
local util = require('pytest.util')

local levels = vim.log.levels
local val, list = util.val, util.list

M.ns = vim.api.nvim_create_namespace('pytest')

local has_user_data = vim.fn.has('nvim-0.8') == 1

-- Buffers opened after a run get its diagnostics (0.7 has no autocmd `data`: use <abuf>).
vim.api.nvim_create_autocmd({ 'BufReadPost', 'BufWinEnter' }, {
  group = vim.api.nvim_create_augroup('pytest_diagnostics', { clear = true }),
  callback = function(a) require('pytest.results').on_buffer(a.buf) end,
})

-- absolute file path -> list of diagnostics for the current result
local by_file = {}
-- Neovim 0.7 items have no user_data: quickfix list id -> that list's entry tables, kept while
-- the list is on the stack. (Not in the list context: converting thousands of tables to Vim
-- dicts there was a quarter of the time from pytest's exit to the list being set.)
local entries_by_list = {}
-- Bumped whenever diagnostics are cleared: a deferred set_diagnostics of an older result
-- (see M.show) must not land after a newer run started.
local generation = 0

local COUNT_ORDER = { 'failed', 'passed', 'errors', 'skipped', 'deselected', 'xfailed', 'xpassed' }

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
function M.args_text(args)
  args = val(args)
  if type(args) == 'table' then return util.join_args(args) end
  if args == nil then return '' end
  return tostring(args)
end

local function counts_text(r)
  local c = type(val(r.counts)) == 'table' and r.counts or {}
  local parts = {}
  for _, k in ipairs(COUNT_ORDER) do
    local n = val(c[k])
    if type(n) == 'number' and n > 0 then
      local word = k
      if k == 'errors' and n == 1 then word = 'error' end
      table.insert(parts, string.format('%d %s', n, word))
    end
  end
  local s = table.concat(parts, ', ')
  if type(val(r.seconds)) == 'number' and s ~= '' then s = string.format('%s in %.2fs', s, r.seconds) end
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
  local a = M.args_text(r.args)
  return util.clean('pytest' .. (a ~= '' and (' ' .. a) or '') .. ': ' .. M.describe(r))
end

-- What a result's relative paths are relative to.
local function result_base(r)
  return val(r.root) or val(r.cwd) or vim.fn.getcwd()
end

-- Absolute path of a failure's file: `file`, else the path part of the node id under root.
local function failure_file(f, r)
  local file = val(f.file)
  if type(file) ~= 'string' or file == '' then
    local nodeid = val(f.nodeid)
    file = type(nodeid) == 'string' and nodeid:match('^([^:]+)') or nil
    if not file or file == '' then return nil end
  end
  if file:sub(1, 1) ~= '/' then file = util.join(result_base(r), file) end
  return file
end

-- Where failure `f` was raised (absolute file, line) when that is not where it is shown
-- (`file`, `line`), else nil. The one place the quickfix list and the diagnostics ask.
local function crash_site(f, r, file, line)
  local cfile, cline = val(f.crash_file), tonumber(val(f.crash_line))
  if type(cfile) ~= 'string' or cfile == '' or not cline or cline <= 0 then return nil end
  if cfile:sub(1, 1) ~= '/' then cfile = util.join(result_base(r), cfile) end
  if cfile == file and cline == line then return nil end
  return cfile, cline
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

-- Quickfix items and, index for index, the entry table of each ({run_id, nodeid, kind, role}).
function M.qf_items(r)
  local items, entries = {}, {}
  for _, f in ipairs(list(r.failures)) do
    local nodeid = val(f.nodeid) or '?'
    local file = failure_file(f, r)
    local line = tonumber(val(f.line)) or 0
    local msg = one_line(val(f.message))
    local ident = { run_id = val(r.run_id), nodeid = nodeid, kind = val(f.kind) or 'failed', role = 'failure' }
    local item = {
      filename = file,
      lnum = line,
      col = 0,
      type = 'E',
      text = util.clean(nodeid .. kind_label(f) .. (msg ~= '' and (': ' .. msg) or '')),
    }
    if has_user_data then item.user_data = ident end
    table.insert(items, item)
    entries[#items] = ident
    local cfile, cline = crash_site(f, r, file, line)
    if cfile then
      local cident = vim.tbl_extend('force', ident, { role = 'crash' })
      local citem = {
        filename = cfile,
        lnum = cline,
        col = 0,
        type = 'I',
        text = util.clean(nodeid .. ' raised here' .. (msg ~= '' and (': ' .. first_line(f.message)) or '')),
      }
      if has_user_data then citem.user_data = cident end
      table.insert(items, citem)
      entries[#items] = cident
    end
  end
  return items, entries
end

-- The test a quickfix entry belongs to ({run_id, nodeid, kind, role}), from user_data (0.8+)
-- or from the entries kept for the list (0.7). idx is 1-based; defaults to the current entry.
function M.qf_entry(idx)
  -- (getqflist's idx = 0 names the current entry for `idx` itself, but `items` then holds
  -- the first entry: resolve the index first.)
  idx = idx or vim.fn.getqflist({ idx = 0 }).idx
  local info = vim.fn.getqflist({ idx = idx, items = 1, id = 0 })
  local it = info.items and info.items[1]
  if it and type(it.user_data) == 'table' and it.user_data.nodeid then return it.user_data end
  local entries = entries_by_list[info.id]
  return entries and entries[idx]
end

-- Keeps `entries` for the current quickfix list and forgets lists that left the stack.
local function remember_entries(entries)
  for id in pairs(entries_by_list) do
    if vim.fn.getqflist({ id = id }).id ~= id then entries_by_list[id] = nil end
  end
  entries_by_list[vim.fn.getqflist({ id = 0 }).id] = entries
end

local function set_buf_diagnostics(bufnr, diags)
  if not vim.api.nvim_buf_is_loaded(bufnr) then return end
  local n = vim.api.nvim_buf_line_count(bufnr)
  local clamped = {}
  for _, d in ipairs(diags) do
    local c = vim.deepcopy(d)
    if c.lnum >= n then c.lnum = math.max(n - 1, 0) end
    c.end_lnum = c.lnum
    table.insert(clamped, c)
  end
  vim.diagnostic.set(M.ns, bufnr, clamped)
end

local function loaded_buffers()
  local map = {}
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) then
      local name = vim.api.nvim_buf_get_name(b)
      if name ~= '' then map[name] = b end
    end
  end
  return map
end

-- Clear failures from diagnostics (start of a run).
function M.clear_diagnostics()
  generation = generation + 1
  by_file = {}
  vim.diagnostic.reset(M.ns)
end

-- One diagnostic of failure `f` at `file`:`line` (1-based), kept for the file's buffer.
local function add_diagnostic(file, line, severity, f, message)
  by_file[file] = by_file[file] or {}
  table.insert(by_file[file], {
    lnum = line - 1,
    col = 0,
    severity = severity,
    source = 'pytest',
    message = message,
    user_data = { nodeid = val(f.nodeid) },
  })
end

-- Show a result's failures with vim.diagnostic now and in buffers opened later.
function M.set_diagnostics(r)
  M.clear_diagnostics()
  if not config.get().diagnostics then return end
  for _, f in ipairs(list(r.failures)) do
    local file = failure_file(f, r)
    local line = tonumber(val(f.line))
    if file and line and line > 0 then
      local msg = val(f.message)
      msg = (type(msg) == 'string' and msg ~= '') and msg or (val(f.kind) or 'failed')
      local label = kind_label(f)
      local sev = vim.diagnostic.severity
      add_diagnostic(file, line, sev.ERROR, f,
        util.clean((label ~= '' and (label:sub(2) .. ' ') or '') .. msg:gsub('%s+$', ''), true))
      local cfile, cline = crash_site(f, r, file, line)
      if cfile then
        add_diagnostic(cfile, cline, sev.INFO, f,
          util.clean(string.format('%s raised here: %s', val(f.nodeid) or '?', first_line(msg))))
      end
    end
  end
  local bufs = loaded_buffers()
  for file, diags in pairs(by_file) do
    local b = bufs[file]
    if b then set_buf_diagnostics(b, diags) end
  end
end

-- BufReadPost/BufWinEnter: attach the current result's diagnostics to a newly shown buffer.
function M.on_buffer(bufnr)
  if next(by_file) == nil then return end
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' then return end
  local diags = by_file[name]
  if diags and #vim.diagnostic.get(bufnr, { namespace = M.ns }) == 0 then
    set_buf_diagnostics(bufnr, diags)
  end
end

local function open_qf(has_items)
  local mode = config.get().open_quickfix
  if mode == 'never' or (mode == 'on_failure' and not has_items) then return end
  local win = vim.api.nvim_get_current_win()
  local ok = pcall(vim.cmd, 'botright copen')
  if ok and vim.api.nvim_win_is_valid(win) then pcall(vim.api.nvim_set_current_win, win) end
end

-- Replace the quickfix list (a new list on the stack) with the failures of `r`.
function M.set_quickfix(r, opts)
  opts = opts or {}
  local items, entries = M.qf_items(r)
  vim.fn.setqflist({}, ' ', {
    title = M.title(r),
    items = items,
    context = { pytest = { run_id = val(r.run_id), root = val(r.root) } },
  })
  if not has_user_data then remember_entries(entries) end
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
  local items = {}
  for i = 1, math.min(n, #rows) do
    local s = rows[i]
    local file = failure_file(s, r)
    table.insert(items, {
      filename = file,
      lnum = tonumber(val(s.line)) or 0,
      col = 0,
      text = util.clean(string.format('%7.3fs %s', tonumber(val(s.seconds)) or 0, val(s.nodeid) or '?')),
    })
  end
  vim.fn.setqflist({}, ' ', {
    title = util.clean(string.format('pytest slowest %d: %s', #items, M.args_text(r.args))),
    items = items,
  })
  return items
end

return M
