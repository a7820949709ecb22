-- pytest.marks: a mark at every test definition of the tree (pytest.tree) in loaded buffers:
-- an extmark with a sign (status icon, highlight group PytestPassed, PytestFailed, ...) and
-- virtual text: a parametrized test's or a class's counts ("2 of 5 failed"), a test's peak RSS
-- growth above `marks_memory_mb`, its duration when among the run's `marks_slowest`, a
-- collection error's message. Tests that share a definition line (parametrized cases, a test
-- inherited by several classes) share one mark. Updates come from the tree's batched flushes
-- and touch only the changed lines of loaded buffers. The `marks` option turns them off.
local M = {}

local config = require('pytest.config')
local tree = require('pytest.tree')
local util = require('pytest.util')

M.ns = vim.api.nvim_create_namespace('pytest_marks_text') -- not the sign group's name: 0.10 keeps signs
-- as extmarks in a namespace named after their group
M.priority = 9 -- below diagnostics (10), above coverage (8)

M.icons = {
  passed = '✓', xpassed = '✓', failed = '✗', error = '!', skipped = '○', xfailed = '○',
  running = '●', notrun = '·',
}
M.groups = {
  passed = 'PytestPassed', xpassed = 'PytestWarn', failed = 'PytestFailed', error = 'PytestError',
  skipped = 'PytestSkipped', xfailed = 'PytestSkipped', running = 'PytestRunning', notrun = 'PytestNotRun',
}

-- bufnr -> { [1-based line the tree knows] = extmark id }
local placed = {}
local generation = nil -- the tree generation the buffers' marks are of

local function add(counts, c)
  for k, v in pairs(c) do counts[k] = (counts[k] or 0) + v end
end

-- Leaves a mark's nodes stand for (a group's cases; not a class's tests: only counted).
local function leaves_of(n, out)
  if n.kind == 'group' then
    for _, c in ipairs(n.children) do table.insert(out, c) end
  elseif tree.is_leaf(n) then
    table.insert(out, n)
  end
  return out
end

-- { status, text chunks } of the mark for the nodes at one line.
function M.describe(nodes)
  local counts = { failed = 0, running = 0, passed = 0, skipped = 0, notrun = 0, total = 0 }
  local leaves = {}
  local has_class = false
  for _, n in ipairs(nodes) do
    add(counts, n.counts)
    leaves_of(n, leaves)
    if n.kind == 'class' then has_class = true end
  end
  -- The subtests of these tests: their failures are told apart ("1 subtest failed"), not
  -- counted as tests ("1 of 2 failed" for one test), and they fail the mark.
  local subfailed = 0
  for _, l in ipairs(leaves) do
    for _, c in ipairs(l.children or {}) do
      local cat = tree.category(c.status)
      counts[cat] = counts[cat] - 1
      counts.total = counts.total - 1
      if cat == 'failed' then subfailed = subfailed + 1 end
    end
  end
  local status = tree.aggregate(counts)
  if #leaves == 1 and not has_class and leaves[1].status then status = leaves[1].status end
  if subfailed > 0 and tree.category(status) ~= 'failed' and status ~= 'running' then status = 'failed' end
  local chunks = {}
  local function chunk(text, hl)
    table.insert(chunks, { (#chunks > 0 and ' · ' or ' ') .. text, hl })
  end
  if counts.total > 1 then
    local n = counts.total
    if counts.failed > 0 then
      chunk(string.format('%d of %d failed', counts.failed, n), 'PytestFailed')
    elseif counts.running > 0 then
      chunk(string.format('running, %d of %d done', counts.passed + counts.skipped, n), 'PytestRunning')
    elseif counts.notrun < n then
      if counts.passed == n then
        chunk(string.format('%d passed', n), 'PytestPassed')
      elseif counts.passed > 0 then
        chunk(string.format('%d of %d passed', counts.passed, n), 'PytestPassed')
      else
        chunk(string.format('%d of %d skipped', counts.skipped, n), 'PytestSkipped')
      end
    end
  end
  if subfailed > 0 then chunk(string.format('%d subtest%s failed', subfailed, subfailed == 1 and '' or 's'), 'PytestFailed') end
  local cfg = config.get()
  local peak, slow = nil, nil
  for _, l in ipairs(leaves) do
    if l.rss and (peak == nil or l.rss > peak) then peak = l.rss end
    if l.duration and tree.is_slow(l) and (slow == nil or l.duration > slow) then slow = l.duration end
  end
  if peak and peak > cfg.marks_memory_mb * 1024 * 1024 then
    chunk('+' .. util.bytes(peak) .. ' RSS', 'PytestMemoryPeak')
  end
  if slow then chunk(string.format('%.2fs', slow), 'PytestDuration') end
  for _, l in ipairs(leaves) do
    if l.over_budget then
      chunk('over memory budget', 'PytestWarn')
      break
    end
  end
  for _, l in ipairs(leaves) do
    local flag = tree.gc_flag_text(l.gc)
    if flag then
      chunk(flag, 'PytestWarn')
      break
    end
  end
  for _, l in ipairs(leaves) do
    if l.kind == 'error' and l.message then
      chunk('collection error: ' .. tree.short_message(l.message), 'PytestError')
      break
    end
  end
  return status, chunks
end

M.sign_group = 'pytest_marks'

-- Signs (not extmark signs: Neovim 0.7 cannot list those) named PytestMark<status>.
local defined = false
local function define_signs()
  if defined then return end
  defined = true
  for status, icon in pairs(M.icons) do
    vim.fn.sign_define('PytestMark' .. status, { text = icon, texthl = M.groups[status] })
  end
end

-- The mark of the nodes at `line` (1-based, as the tree knows it) in `bufnr`: a sign and an
-- extmark with the virtual text, both with id `line`. Once placed, both move with the user's
-- edits: an update leaves them where they are now (the next collection places them anew).
local function place(bufnr, line, nodes)
  define_signs()
  local marks = placed[bufnr]
  if not marks then
    marks = {}
    placed[bufnr] = marks
  end
  local row = line - 1
  local known = marks[line]
  if known then
    local pos = vim.api.nvim_buf_get_extmark_by_id(bufnr, M.ns, line, {})
    if pos and pos[1] then row = pos[1] end
  end
  if row >= vim.api.nvim_buf_line_count(bufnr) then return end
  local status, chunks = M.describe(nodes)
  local sign = 'PytestMark' .. (M.icons[status] and status or 'notrun')
  local opts = { id = line, priority = M.priority }
  if #chunks > 0 then
    opts.virt_text = chunks
    opts.virt_text_pos = 'eol'
  end
  local key = sign
  for _, c in ipairs(chunks) do key = key .. '\0' .. c[1] .. '\0' .. c[2] end
  if known == key then return end
  pcall(vim.api.nvim_buf_set_extmark, bufnr, M.ns, row, 0, opts)
  pcall(vim.fn.sign_place, line, M.sign_group, sign, bufnr, { lnum = row + 1, priority = M.priority })
  marks[line] = key
end

local function clear(bufnr)
  placed[bufnr] = nil
  if vim.api.nvim_buf_is_valid(bufnr) then
    pcall(vim.api.nvim_buf_clear_namespace, bufnr, M.ns, 0, -1)
    pcall(vim.fn.sign_unplace, M.sign_group, { buffer = bufnr })
  end
end

-- Every mark of the tree in `bufnr` (a buffer just loaded, a new tree).
function M.attach(bufnr)
  clear(bufnr)
  if not config.get().marks or not vim.api.nvim_buf_is_loaded(bufnr) then return end
  local lines = tree.file_marks(vim.api.nvim_buf_get_name(bufnr))
  if not lines then return end
  for line, nodes in pairs(lines) do place(bufnr, line, nodes) end
end

-- The tree's flush: only the changed lines, unless the tree was rebuilt.
function M.flush(_, keys)
  if not config.get().marks then return end
  local gen = tree._state().generation
  local bufs = util.loaded_buffers()
  if gen ~= generation then
    generation = gen
    for b in pairs(placed) do clear(b) end
    for _, b in pairs(bufs) do M.attach(b) end
    return
  end
  for file, lines in pairs(keys) do
    local b = bufs[file]
    if b then
      for line in pairs(lines) do
        local nodes = tree.marks_at(file, line)
        if nodes then place(b, line, nodes) end
      end
    end
  end
end

-- The `marks` option changed (setup()): show or remove every mark.
function M.refresh()
  for b in pairs(placed) do clear(b) end
  if config.get().marks then
    for _, b in pairs(util.loaded_buffers()) do M.attach(b) end
  end
end

-- Marks in `bufnr` as { {line (1-based, where it is now), sign (text), group (its
-- highlight), text (virtual text)}, ... } sorted by line (tests, :checkhealth).
function M.get(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local out, by_line = {}, {}
  local ok, marks = pcall(vim.api.nvim_buf_get_extmarks, bufnr, M.ns, 0, -1, { details = true })
  if not ok then return out end
  local text_of = {}
  for _, m in ipairs(marks) do
    local text = {}
    for _, c in ipairs((m[4] or {}).virt_text or {}) do table.insert(text, c[1]) end
    text_of[m[2] + 1] = vim.trim(table.concat(text))
  end
  local placed_signs = vim.fn.sign_getplaced(bufnr, { group = M.sign_group })
  for _, sg in ipairs((placed_signs[1] or {}).signs or {}) do
    local def = vim.fn.sign_getdefined(sg.name)[1] or {}
    local e = { line = sg.lnum, sign = vim.trim(def.text or ''), group = def.texthl, text = text_of[sg.lnum] or '' }
    table.insert(out, e)
    by_line[sg.lnum] = e
  end
  table.sort(out, function(a, b) return a.line < b.line end)
  return out
end

tree.register('marks', M)

vim.api.nvim_create_autocmd('BufReadPost', {
  group = vim.api.nvim_create_augroup('pytest_marks', { clear = true }),
  callback = function(a) M.attach(a.buf) end,
})
vim.api.nvim_create_autocmd({ 'BufDelete', 'BufUnload' }, {
  group = 'pytest_marks',
  callback = function(a) placed[a.buf] = nil end,
})

return M
