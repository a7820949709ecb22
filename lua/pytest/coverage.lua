-- pytest.coverage: :PytestCoverage. A run measured by pytest-cov (the co-process adds --cov and
-- reads coverage.py's report); its `coverage` event brings the summary of every measured file and
-- the missing lines of the files open now. Uncovered lines become signs (group
-- `pytest_coverage`, sign PytestUncovered) in open buffers and in buffers opened later (their
-- lines are asked for with the async `coverage_file` request), and the per-file summary fills a
-- location list titled "pytest coverage: NN%". `:PytestCoverage off` clears all of it. Signs and
-- list entries are placed in batches across event-loop turns: a big report never stalls the
-- editor.
local M = {}

local util = require('pytest.util')

local levels = vim.log.levels
local val = util.val

M.sign = 'PytestUncovered'
M.group = 'pytest_coverage'
M.priority = 8 -- below diagnostics (10): a failure's sign wins on a shared line
M.batch = 400 -- signs per event-loop turn (2,000 take ~20 ms on 0.7)
M.list_batch = 50 -- location list entries per turn: each new file name makes a buffer (~50 us)

local S = {
  on = false, -- showing a report (signs, list, autocmds)
  run_id = nil, -- the run the report is of
  totals = nil, -- { percent, statements, missing, nfiles }
  rows = {}, -- path -> { percent, statements, missing, ranges }
  lines = {}, -- file name (as the editor names it) -> missing lines, once known
  asked = {}, -- file name -> true while its coverage_file request is out
  gen = 0, -- bumped by every report and by off(): batches of an older one stop
  list = nil, -- { win, id } of our location list
  wanted = false, -- a coverage run was asked for and not turned off since
}

local augroup = 'pytest_coverage'

local function define_sign()
  if vim.tbl_isempty(vim.fn.sign_getdefined(M.sign)) then
    vim.fn.sign_define(M.sign, { text = '▌', texthl = 'PytestUncovered' })
  end
end

-- Names of the loaded file buffers: what the co-process sends missing lines for eagerly.
function M.open_files()
  local files = {}
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.bo[b].buftype == '' then
      local name = vim.api.nvim_buf_get_name(b)
      if name ~= '' then table.insert(files, name) end
    end
  end
  return files
end

-- Calls fn(i, j) for slices of 1..n, `size` at a time, one slice per event-loop turn starting
-- with the next one (so several buffers' signs do not pile up on one turn), while the report is
-- still `gen`; done() after the last.
local function in_batches(n, size, gen, fn, done)
  local function step(i)
    if gen ~= S.gen then return end
    local j = math.min(n, i + size - 1)
    if i <= j then fn(i, j) end
    if j >= n then
      if done then done() end
      return
    end
    vim.schedule(function() step(j + 1) end)
  end
  vim.schedule(function() step(1) end)
end

local function place(bufnr, lines)
  if not vim.api.nvim_buf_is_loaded(bufnr) then return end
  define_sign()
  pcall(vim.fn.sign_unplace, M.group, { buffer = bufnr })
  local last = vim.api.nvim_buf_line_count(bufnr)
  local list = {}
  for _, l in ipairs(lines) do
    l = tonumber(l)
    if l and l >= 1 and l <= last then -- the buffer may have changed since the run
      table.insert(list, { id = 0, group = M.group, name = M.sign, buffer = bufnr, lnum = l, priority = M.priority })
    end
  end
  local gen = S.gen
  in_batches(#list, M.batch, gen, function(i, j)
    if vim.api.nvim_buf_is_loaded(bufnr) then
      pcall(vim.fn.sign_placelist, { unpack(list, i, j) })
    end
  end)
end

-- Signs for one buffer: from the lines at hand, or asked for (never waiting).
local function show_buffer(bufnr)
  if not S.on or not vim.api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= '' then return end
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' then return end
  local known = S.lines[name]
  if known then return place(bufnr, known) end
  if S.asked[name] then return end
  S.asked[name] = true
  local gen = S.gen
  require('pytest.client').async('coverage_file', { { file = name } }, function(ok, res)
    S.asked[name] = nil
    if gen ~= S.gen or not S.on then return end
    if not ok or type(res) ~= 'table' then
      util.notify('coverage of ' .. name .. ': ' .. tostring(res), levels.WARN)
      return
    end
    S.lines[name] = util.list(val(res.lines))
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_get_name(b) == name then place(b, S.lines[name]) end
    end
  end)
end

local function pct(p)
  return string.format('%d%%', math.floor((tonumber(p) or 0) + 0.5))
end

M.title_prefix = 'pytest coverage: '

-- The per-file summary as a location list of the current window, filled in batches.
local function set_list(files, gen)
  local win = vim.api.nvim_get_current_win()
  if vim.fn.win_gettype(win) ~= '' then -- a quickfix or popup window: use a normal one
    for _, w in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
      if vim.fn.win_gettype(w) == '' then
        win = w
        break
      end
    end
  end
  local title = M.title_prefix .. pct(S.totals.percent)
  vim.fn.setloclist(win, {}, ' ', { title = title, items = {} })
  local id = vim.fn.getloclist(win, { id = 0 }).id
  S.list = { win = win, id = id }
  in_batches(#files, M.list_batch, gen, function(i, j)
    if not vim.api.nvim_win_is_valid(win) then return end
    local items = {}
    for k = i, j do
      local f = files[k]
      local path, percent, statements, missing, ranges = val(f[1]), val(f[2]), val(f[3]), val(f[4]), val(f[5])
      if type(path) == 'string' then
        local first = tonumber(tostring(ranges or ''):match('^(%d+)')) or 1
        local text = string.format('%4s of %d statements', pct(percent), tonumber(statements) or 0)
        if (tonumber(missing) or 0) > 0 then
          text = text .. string.format(', %d missing: %s', tonumber(missing), tostring(ranges or ''))
        end
        table.insert(items, { filename = path, lnum = first, col = 1, text = util.clean(text) })
      end
    end
    pcall(vim.fn.setloclist, win, {}, 'a', { id = id, items = items })
  end)
end

local function autocmds()
  local g = vim.api.nvim_create_augroup(augroup, { clear = true })
  vim.api.nvim_create_autocmd('BufReadPost', {
    group = g,
    callback = function(a) show_buffer(a.buf) end,
  })
end

-- The `coverage` event: {run_id, percent, statements, missing, nfiles, files: [[path, percent,
-- statements, missing, ranges], ...], lines: {file: [line, ...]}}.
function M.on_event(p)
  if not S.wanted then return end
  M.clear_signs()
  S.gen = S.gen + 1
  S.on = true
  S.run_id = val(p.run_id)
  S.totals = { percent = val(p.percent), statements = val(p.statements), missing = val(p.missing),
    nfiles = val(p.nfiles) }
  S.rows = {}
  S.lines = {}
  S.asked = {}
  local files = util.list(val(p.files))
  for _, f in ipairs(files) do
    if type(f) == 'table' and type(val(f[1])) == 'string' then
      S.rows[f[1]] = { percent = val(f[2]), statements = val(f[3]), missing = val(f[4]), ranges = val(f[5]) }
    end
  end
  local lines = val(p.lines)
  if type(lines) == 'table' then
    for name, l in pairs(lines) do S.lines[name] = util.list(val(l)) end
  end
  autocmds()
  define_sign()
  -- Each on its own event-loop turn: the event's decoding already took this one.
  local gen = S.gen
  vim.schedule(function()
    if gen ~= S.gen then return end
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(b) then show_buffer(b) end
    end
    vim.schedule(function()
      if gen == S.gen then set_list(files, gen) end
    end)
  end)
  if require('pytest.config').get().notify then
    util.notify(string.format('pytest coverage: %s (%d of %d statements missing in %d files); :lopen lists them',
      pct(S.totals.percent), tonumber(S.totals.missing) or 0, tonumber(S.totals.statements) or 0,
      tonumber(S.totals.nfiles) or 0))
  end
  util.fire('PytestCoverage', { run_id = S.run_id, percent = S.totals.percent })
end

-- `finished` of a coverage run: say why there is no report (the report itself comes next).
-- Not when the run itself ended in an error (pytest crashed, a usage error): its own message,
-- which the result's notification shows, is the answer, said once.
local RAN = { passed = true, failed = true, no_tests = true }

function M.on_finished(p)
  local c = val(p.coverage)
  if type(c) ~= 'table' then return end
  local e = val(c.error)
  if val(p.error) ~= nil or not RAN[val(p.status)] then return end
  if type(e) == 'string' then util.notify(e, levels.WARN) end
end

function M.clear_signs()
  pcall(vim.fn.sign_unplace, M.group)
end

-- A coverage run is on its way (pytest.run with opts.coverage): show its report when it comes.
function M.expect()
  S.wanted = true
end

-- :PytestCoverage off
function M.off()
  S.wanted = false
  S.on = false
  S.gen = S.gen + 1
  S.rows, S.lines, S.asked, S.totals = {}, {}, {}, nil
  M.clear_signs()
  pcall(vim.api.nvim_del_augroup_by_name, augroup)
  local l = S.list
  S.list = nil
  if l and vim.api.nvim_win_is_valid(l.win) then
    local cur = vim.fn.getloclist(l.win, { id = l.id, title = 0 })
    if cur.id == l.id then
      pcall(vim.fn.setloclist, l.win, {}, 'r', { id = l.id, items = {}, title = M.title_prefix .. 'off' })
    end
  end
  return true
end

-- :PytestCoverage [args]: a run of `args` measured by pytest-cov; `off` clears the display.
function M.run(args)
  args = args or {}
  if #args == 1 and args[1] == 'off' then return M.off() end
  return require('pytest').run(args, { coverage = true })
end

-- Introspection for tests: whether a report shows, its totals, and the files whose lines are known.
function M.state()
  local known = vim.tbl_keys(S.lines)
  table.sort(known)
  return { on = S.on, run_id = S.run_id, totals = S.totals, nfiles = vim.tbl_count(S.rows), known = known }
end

-- Line numbers of the coverage signs in `bufnr`, ascending.
function M.signs(bufnr)
  local out = {}
  local placed = vim.fn.sign_getplaced(bufnr, { group = M.group })
  for _, s in ipairs((placed[1] or {}).signs or {}) do table.insert(out, s.lnum) end
  table.sort(out)
  return out
end

return M
