-- pytest.summary: :PytestSummary, a side window with the test tree (pytest.tree): directories,
-- files, classes, tests and parametrized cases (and the subtests a run reported under their
-- test), each line with its status icon, duration and peak RSS growth (leaves; a subtest: its
-- failure's message) or counts (the others). Folded to files by default; what holds a
-- failure is expanded. Updates come from the tree's batched flushes: a status change rewrites
-- only the lines of the changed nodes that are visible; the whole buffer is rendered again only
-- when its shape changes (a new tree, a node expanded, a failure in a folded file).
local M = {}

local tree = require('pytest.tree')
local util = require('pytest.util')

local levels = vim.log.levels

M.bufname = 'pytest://summary'
M.width = 50
M.ns = vim.api.nvim_create_namespace('pytest_summary')
M.header = 1 -- lines above the first node
M.rss_floor = 1024 * 1024 -- a smaller peak RSS growth is not shown
M.gc_floor_ms = 5 -- less time in the garbage collector is not shown

M.icons = require('pytest.marks').icons
M.groups = require('pytest.marks').groups

M.keys = {
  { '<CR>', 'jump to the definition (a directory: fold/unfold)' },
  { '<Tab>', 'fold/unfold the node' },
  { 'r', 'run the node under the cursor' },
  { 'o', "the node's output (a test: its own report)" },
  { 'f', 'show only failures (again: everything)' },
  { 's', 'sort by exact peak RSS, then growth, then GC time, then as collected' },
  { 'm', 'mark/unmark the node' },
  { 'R', 'run the marked nodes' },
  { 'x', 'stop the run' },
  { '[f', 'previous failure' },
  { ']f', 'next failure' },
  { '?', 'this list' },
  { 'q', 'close' },
}

local V = {
  buf = nil,
  rows = {}, -- visible nodes in order
  row_of = {}, -- node -> index in rows
  shown_open = {}, -- node -> whether it was rendered expanded
  shown_in = {}, -- node -> whether it passed the filter when rendered
  depth = {}, -- shown node -> its depth
  open = {}, -- node id -> true/false: the user's folding
  marked = {}, -- node id -> true
  only_failed = false,
  sort = nil, -- nil (as collected) | 'peak' | 'growth' | 'gc': children by their largest test's
  sort_key = {}, -- node -> its key under V.sort (made at a render)
  stale = true, -- render everything at the next chance
}

local function is_visible()
  return V.buf ~= nil and vim.api.nvim_buf_is_valid(V.buf) and vim.fn.bufwinid(V.buf) ~= -1
end

function M.is_open()
  return is_visible()
end

-- Whether `n` shows its children: the user's choice, else directories do and what holds a
-- failure does.
local function expanded(n)
  if not n.children then return false end -- a leaf
  local o = V.open[n.id]
  if o ~= nil then return o end
  return n.kind == 'dir' or n.counts.failed > 0
end

local sort_names = { peak = 'peak RSS', growth = 'RSS growth', gc = 'GC time' }

local function passes(n)
  return not V.only_failed or n.counts.failed > 0
end

local function run_id_of(n)
  return n.nodeid or n.id
end

local function details(n)
  local parts = {}
  if n.kind == 'subtest' then
    if n.message then table.insert(parts, tree.short_message(n.message)) end
  elseif tree.is_leaf(n) then
    if n.duration and n.status ~= 'running' then table.insert(parts, string.format('%.2fs', n.duration)) end
    if n.rss and n.rss >= M.rss_floor then table.insert(parts, '+' .. util.bytes(n.rss)) end
    if n.kind == 'error' and n.message then table.insert(parts, tree.short_message(n.message)) end
    local failed = n.children and (n.counts.failed - (tree.category(n.status) == 'failed' and 1 or 0)) or 0
    if failed > 0 then table.insert(parts, string.format('%d subtest%s failed', failed, failed == 1 and '' or 's')) end
    if n.memory_limit then table.insert(parts, 'memory: ' .. n.memory_limit) end
    if n.over_budget then table.insert(parts, 'over memory budget') end
    if n.gc and n.gc.ms >= M.gc_floor_ms then table.insert(parts, string.format('gc %.1fms', n.gc.ms)) end
    local flag = tree.gc_flag_text(n.gc)
    if flag then table.insert(parts, flag) end
  else
    local c = n.counts
    if c.failed > 0 then
      table.insert(parts, string.format('%d of %d failed', c.failed, c.total))
    elseif c.running > 0 then
      table.insert(parts, string.format('%d of %d done', c.passed + c.skipped, c.total))
    elseif c.total > 0 then
      table.insert(parts, string.format('%d test%s', c.total, c.total == 1 and '' or 's'))
    end
  end
  -- imported from another file (<CR> goes to its definition there)
  if n.at_file and n.file then table.insert(parts, 'from ' .. vim.fn.fnamemodify(n.file, ':t')) end
  return table.concat(parts, '  ')
end

local function depth(n)
  local d = 0
  local p = n.parent
  while p do
    d = d + 1
    p = p.parent
  end
  return d
end

-- The text of a node's line and the highlights on it: { {col_start, col_end, group}, ... }.
local function line_of(n)
  local status = tree.is_leaf(n) and (n.status or 'notrun') or tree.aggregate(n.counts)
  local fold = ' '
  if n.children and #n.children > 0 then fold = expanded(n) and '▾' or '▸' end
  local mark = V.marked[run_id_of(n)] and '*' or ' '
  local prefix = mark .. string.rep('  ', depth(n)) .. fold .. ' '
  local icon = M.icons[status] or M.icons.notrun
  local name = util.id_text(n.name) .. ((n.kind == 'dir') and '/' or '')
  local d = details(n)
  local text = prefix .. icon .. ' ' .. name .. (d ~= '' and ('  ' .. util.clean(d)) or '')
  local hls = { { #prefix, #prefix + #icon, M.groups[status] or 'PytestNotRun' } }
  if d ~= '' then
    local group = (status == 'failed' or (n.children and n.counts.failed > 0)) and 'PytestFailed' or 'PytestDuration'
    if n.kind == 'error' then group = 'PytestError' end
    table.insert(hls, { #prefix + #icon + 1 + #name + 2, -1, group })
  end
  if n.kind == 'file' or n.kind == 'dir' then
    table.insert(hls, { #prefix + #icon + 1, #prefix + #icon + 1 + #name, 'PytestLocation' })
  end
  return text, hls
end

-- The width the header has: the summary window's (the user may have resized it).
local function header_width()
  local win = V.buf and vim.fn.bufwinid(V.buf) or -1
  if win ~= -1 then return vim.api.nvim_win_get_width(win) end
  return M.width
end

local function fits(text, width)
  return vim.fn.strdisplaywidth(text) <= width
end

-- `text` cut to `width` display cells, ending in '…'.
local function cut(text, width)
  if width <= 0 then return '' end
  if fits(text, width) then return text end
  local n = vim.fn.strchars(text)
  local out = ''
  for k = math.min(n, width), 0, -1 do
    out = vim.fn.strcharpart(text, 0, k)
    if fits(out .. '…', width) then break end
  end
  return out .. '…'
end

-- The header line: the root, the counts, `? keys`, fitted to the window's width (a 50-column
-- window cut `· 297  ? keys` to `· 2`): the root shortens to its last component, the spacing
-- tightens, then the root is cut; the numbers and the key hint stay whole.
local function header(width)
  width = width or header_width()
  local st = tree._state()
  local c = tree.count()
  local root = st.root and vim.fn.fnamemodify(st.root, ':~') or nil
  local titles = root and { 'pytest ' .. root, 'pytest ' .. vim.fn.fnamemodify(st.root, ':t'),
    vim.fn.fnamemodify(st.root, ':t') } or { 'pytest (no tree yet)', 'pytest' }
  local function rest(sep, tight)
    local parts = {}
    if tree.collecting() and not st.collected then table.insert(parts, 'collecting…') end
    if c.total > 0 then
      local fmt = tight and '%s%d %s%d %s%d %s%d' or '%s %d  %s %d  %s %d  %s %d'
      table.insert(parts, string.format(fmt, M.icons.failed, c.failed, M.icons.passed, c.passed,
        M.icons.skipped, c.skipped, M.icons.notrun, c.notrun))
    end
    if c.running > 0 then table.insert(parts, M.icons.running .. (tight and '' or ' ') .. c.running) end
    if V.only_failed then table.insert(parts, '[only failures]') end
    if V.sort then table.insert(parts, '[by ' .. sort_names[V.sort] .. ']') end
    table.insert(parts, '? keys')
    return table.concat(parts, sep)
  end
  local text
  for _, form in ipairs({ { '  ', false }, { ' ', true } }) do
    local tail = rest(form[1], form[2])
    for _, t in ipairs(titles) do
      text = t .. form[1] .. tail
      if fits(text, width) then return util.clean(text) end
    end
  end
  local tail = rest(' ', true)
  local room = width - vim.fn.strdisplaywidth(tail) - 1
  if room >= 2 then return util.clean(cut(titles[#titles], room) .. ' ' .. tail) end
  return util.clean(tail)
end
M._header = header

local api = vim.api
local editing = false -- within M.flush: the buffer is modifiable until it ends

-- Replaces lines [first, last) (0-based) with `lines` and their highlights.
local function set_lines(first, last, lines, hls_by_line)
  local toggle = not editing
  if toggle then vim.bo[V.buf].modifiable = true end
  api.nvim_buf_set_lines(V.buf, first, last, false, lines)
  if toggle then
    vim.bo[V.buf].modifiable = false
    vim.bo[V.buf].modified = false
  end
  api.nvim_buf_clear_namespace(V.buf, M.ns, first, first + #lines)
  for i, hls in pairs(hls_by_line) do
    for _, h in ipairs(hls) do
      util.highlight(V.buf, M.ns, h[3], first + i - 1, h[1], h[2], lines[i])
    end
  end
end

local function set_header()
  V.header_width = header_width()
  set_lines(0, 1, { header(V.header_width) }, { { { 0, -1, 'PytestTitle' } } })
end

M.sorts = { 'peak', 'growth', 'gc' }

-- A node's key under V.sort: a test's exact peak RSS, growth (bytes) or time in the garbage
-- collector (ms), -1 when unknown; a group's largest test's.
local function sort_key(n)
  local k = V.sort_key[n]
  if k then return k end
  if tree.is_leaf(n) then
    if V.sort == 'peak' then
      k = n.peak
    elseif V.sort == 'growth' then
      k = n.rss
    else
      k = n.gc and n.gc.ms
    end
    k = k or -1
  else
    k = -1
    for _, c in ipairs(n.children) do
      local x = sort_key(c)
      if x > k then k = x end
    end
  end
  V.sort_key[n] = k
  return k
end

-- `list` in the order shown: as collected, or by V.sort (largest first; ties as collected).
local function ordered(list)
  if not V.sort or #list < 2 then return list end
  local pos, out = {}, {}
  for i, n in ipairs(list) do
    pos[n] = i
    out[i] = n
  end
  table.sort(out, function(a, b)
    local x, y = sort_key(a), sort_key(b)
    if x ~= y then return x > y end
    return pos[a] < pos[b]
  end)
  return out
end

-- Appends the visible nodes of `list` (at `depth`) and their descendants to rows/lines/hls,
-- remembering how each was shown.
local function collect_rows(list, depth, rows, lines, hls)
  for _, n in ipairs(ordered(list)) do
    local ok = passes(n)
    V.shown_in[n] = ok
    if ok then
      table.insert(rows, n)
      V.depth[n] = depth
      local t, h = line_of(n)
      table.insert(lines, t)
      hls[#lines] = h
      local e = expanded(n)
      V.shown_open[n] = e
      if e and n.children then collect_rows(n.children, depth + 1, rows, lines, hls) end
    end
  end
end

local function restore_cursor(cur)
  if cur and V.row_of[cur] then
    pcall(vim.api.nvim_win_set_cursor, vim.fn.bufwinid(V.buf), { V.row_of[cur] + M.header, 0 })
  end
end

-- Everything again: the visible nodes, their lines; the cursor stays on its node.
function M.render()
  if not is_visible() then
    V.stale = true
    return
  end
  local cur = M.node_at_cursor()
  V.shown_open, V.shown_in, V.depth, V.sort_key = {}, {}, {}, {}
  local rows, row_of = {}, {}
  V.header_width = header_width()
  local lines, hls = { header(V.header_width) }, { { { 0, -1, 'PytestTitle' } } }
  collect_rows(tree._state().top, 0, rows, lines, hls)
  for i, n in ipairs(rows) do row_of[n] = i end
  if #rows == 0 then
    local err = tree._state().collect_error
    table.insert(lines, tree.collecting() and '  (collecting the tests…)'
      or (V.only_failed and '  (no failures)')
      or (err and ('  (cannot collect the tests: ' .. tree.short_message(err) .. ')'))
      or '  (no tests known yet: run some, or save a test file)')
  end
  V.rows, V.row_of = rows, row_of
  V.stale = false
  set_lines(0, -1, lines, hls)
  restore_cursor(cur)
end

-- A shown node folded or unfolded: its line and its subtree's lines change in place, the
-- other lines stay (a failure unfolding its file in a 20,000-test tree rewrites that file only).
local function refold(n)
  local r = V.row_of[n]
  local d = V.depth[n]
  local k = 0
  while V.rows[r + k + 1] and V.depth[V.rows[r + k + 1]] > d do k = k + 1 end
  local rows, lines, hls = {}, {}, {}
  local t, h = line_of(n)
  lines[1], hls[1] = t, h
  V.shown_open[n] = expanded(n)
  if V.shown_open[n] and n.children then collect_rows(n.children, d + 1, rows, lines, hls) end
  set_lines(r + M.header - 1, r + M.header + k, lines, hls)
  local old = V.rows
  local new = {}
  for i = 1, r do new[i] = old[i] end
  for i = r + 1, r + k do V.row_of[old[i]] = nil end
  for _, x in ipairs(rows) do new[#new + 1] = x end
  for i = r + k + 1, #old do new[#new + 1] = old[i] end
  for i = r + 1, #new do V.row_of[new[i]] = i end
  V.rows = new
end

-- The tree's flush: rewrite the changed visible lines; fold/unfold in place what follows its
-- counts (a first failure); render everything only when the tree itself changed.
function M.flush(nodes, _, structure)
  if not is_visible() then
    V.stale = true
    return
  end
  if structure or V.stale then return M.render() end
  local todo, fold = {}, {}
  for n in pairs(nodes) do
    if V.shown_in[n] ~= nil and V.shown_in[n] ~= passes(n) then return M.render() end -- only failures
    if V.row_of[n] then
      if V.shown_open[n] ~= nil and V.shown_open[n] ~= expanded(n) then
        table.insert(fold, n)
      else
        table.insert(todo, n)
      end
    end
  end
  local cur = (#fold > 0) and M.node_at_cursor() or nil
  vim.bo[V.buf].modifiable = true
  editing = true
  local ok, err = pcall(function()
    table.sort(fold, function(a, b) return V.depth[a] < V.depth[b] end) -- outer ones first
    for _, n in ipairs(fold) do
      if V.row_of[n] and V.shown_open[n] ~= expanded(n) then refold(n) end
    end
    -- the changed lines, a run of adjacent ones at a time
    local rows = {}
    for _, n in ipairs(todo) do
      if V.row_of[n] then table.insert(rows, V.row_of[n]) end
    end
    table.sort(rows)
    local i = 1
    while i <= #rows do
      local j = i
      while rows[j + 1] and rows[j + 1] <= rows[j] + 1 do j = j + 1 end
      local lines, hls = {}, {}
      local first = rows[i]
      for r = first, rows[j] do
        local t, h = line_of(V.rows[r])
        lines[#lines + 1] = t
        hls[#lines] = h
      end
      set_lines(first + M.header - 1, rows[j] + M.header, lines, hls)
      i = j + 1
    end
    set_header()
  end)
  editing = false
  vim.bo[V.buf].modifiable = false
  vim.bo[V.buf].modified = false
  if not ok then error(err, 0) end
  restore_cursor(cur)
end

tree.register('summary', M)

-- The window was resized: the header fits its new width.
vim.api.nvim_create_autocmd({ 'VimResized', vim.fn.has('nvim-0.9') == 1 and 'WinResized' or 'WinScrolled' }, {
  group = vim.api.nvim_create_augroup('pytest_summary', { clear = true }),
  callback = function()
    if not is_visible() or V.stale or header_width() == V.header_width then return end
    local ok, err = pcall(set_header)
    if not ok then util.notify('error updating the summary: ' .. tostring(err), levels.ERROR) end
  end,
})

-- The node on the cursor's line of the summary window, or nil.
function M.node_at_cursor()
  if not is_visible() then return nil end
  local win = vim.fn.bufwinid(V.buf)
  local row = vim.api.nvim_win_get_cursor(win)[1] - M.header
  return V.rows[row]
end

-- A normal window to show a file in (not the summary, not a quickfix/popup window).
local function target_window()
  local prev = vim.fn.win_getid(vim.fn.winnr('#'))
  local function ok(w)
    return w ~= 0 and vim.api.nvim_win_is_valid(w) and vim.api.nvim_win_get_buf(w) ~= V.buf
      and vim.fn.win_gettype(w) == '' and vim.bo[vim.api.nvim_win_get_buf(w)].buftype == ''
  end
  if ok(prev) then return prev end
  for _, w in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    if ok(w) then return w end
  end
  vim.cmd('rightbelow vsplit')
  return vim.api.nvim_get_current_win()
end

local function toggle_fold(n)
  if not n or not n.children then return end
  V.open[n.id] = not expanded(n)
  if V.row_of[n] and not V.stale then return refold(n) end
  M.render()
end

function M.jump(n)
  n = n or M.node_at_cursor()
  if not n then return end
  if n.kind == 'dir' then return toggle_fold(n) end
  local file = n.file or (n.kind == 'subtest' and n.parent.file) or nil
  if not file then return util.notify('no file known for ' .. util.id_text(run_id_of(n)), levels.WARN) end
  local line = (n.file and n.line) or ((n.kind == 'case' or n.kind == 'subtest') and n.parent.line) or 1
  local win = target_window()
  vim.api.nvim_set_current_win(win)
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  pcall(vim.api.nvim_win_set_cursor, win, { line, 0 })
end

-- The node's selection as pytest takes it: its node id (a directory, a file: its path).
local function selection(n)
  if n.kind == 'error' then return n.nodeid or n.parent.id end
  if n.kind == 'subtest' then return n.nodeid end -- pytest runs its test
  return n.id
end

local function run_nodes(list)
  local root = tree._state().root
  if not root then return util.notify('no tree yet', levels.WARN) end
  local args = {}
  for _, n in ipairs(list) do table.insert(args, selection(n)) end
  -- node ids are relative to the root: run there (the root's search starts in it, whether
  -- the file named exists or not)
  return require('pytest').run(args, { cwd = root, file = util.join(root, 'pytest.ini') })
end

function M.run_node(n)
  n = n or M.node_at_cursor()
  if not n then return end
  return run_nodes({ n })
end

function M.output(n)
  n = n or M.node_at_cursor()
  local out = require('pytest.output')
  if n and tree.is_leaf(n) then return out.open_test(n) end -- a collection error: its report
  if n and n.kind == 'group' then return out.open_test(out.pick_case(n)) end
  return out.open()
end

function M.toggle_filter()
  V.only_failed = not V.only_failed
  M.render()
end

-- `s`: the next order (or `order`, one of M.sorts, or false for as collected): each group's
-- children by their largest test's exact peak RSS, growth or GC time (|pytest-summary|). The
-- order is the one at this render: `s` through the cycle again, or any re-render, sorts anew.
function M.cycle_sort(order)
  if order ~= nil then
    V.sort = order or nil
  else
    local next_of = { [''] = 'peak', peak = 'growth', growth = 'gc', gc = nil }
    V.sort = next_of[V.sort or '']
  end
  M.render()
  return V.sort
end

function M.toggle_mark(n)
  n = n or M.node_at_cursor()
  if not n then return end
  local id = run_id_of(n)
  V.marked[id] = (not V.marked[id]) or nil
  local r = V.row_of[n]
  if r then
    local t, h = line_of(n)
    set_lines(r + M.header - 1, r + M.header, { t }, { h })
  end
  if vim.fn.bufwinid(V.buf) ~= -1 then
    local win = vim.fn.bufwinid(V.buf)
    local row = vim.api.nvim_win_get_cursor(win)[1]
    pcall(vim.api.nvim_win_set_cursor, win, { math.min(row + 1, vim.api.nvim_buf_line_count(V.buf)), 0 })
  end
end

-- The marked nodes still in the tree, in tree order.
function M.marked()
  local out = {}
  local function walk(list)
    for _, n in ipairs(list) do
      if V.marked[run_id_of(n)] then table.insert(out, n) end
      if n.children then walk(n.children) end
    end
  end
  walk(tree._state().top)
  return out
end

function M.run_marked()
  local list = M.marked()
  if #list == 0 then return util.notify('no node is marked (m marks one)', levels.WARN) end
  V.marked = {}
  M.render()
  return run_nodes(list)
end

-- [f / ]f: the previous/next failed test on a visible line (wrapping around).
function M.next_failure(dir)
  if not is_visible() then return end
  local win = vim.fn.bufwinid(V.buf)
  local row = vim.api.nvim_win_get_cursor(win)[1] - M.header
  local n = #V.rows
  for k = 1, n do
    local i = ((row - 1 + dir * k) % n) + 1
    local node = V.rows[i]
    if tree.is_leaf(node) and tree.category(node.status) == 'failed' then
      vim.api.nvim_win_set_cursor(win, { i + M.header, 0 })
      return node
    end
  end
  util.notify('no failure shown', levels.INFO)
end

function M.help()
  local lines = {}
  for _, k in ipairs(M.keys) do table.insert(lines, string.format(' %-6s %s', k[1], k[2])) end
  local width = 0
  for _, l in ipairs(lines) do width = math.max(width, vim.fn.strdisplaywidth(l) + 1) end
  local b = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(b, 0, -1, false, lines)
  vim.bo[b].modifiable = false
  vim.bo[b].bufhidden = 'wipe'
  local w = vim.api.nvim_open_win(b, true, {
    relative = 'editor', row = 1, col = math.max(0, vim.o.columns - width - 2), width = width,
    height = #lines, style = 'minimal', border = 'single',
  })
  for _, k in ipairs({ 'q', '?', '<Esc>' }) do
    vim.api.nvim_buf_set_keymap(b, 'n', k, '<Cmd>close<CR>', { noremap = true, silent = true, nowait = true })
  end
  vim.api.nvim_create_autocmd('WinLeave', {
    buffer = b,
    once = true,
    callback = function() pcall(vim.api.nvim_win_close, w, true) end,
  })
  return b
end

local function map(lhs, fn)
  vim.api.nvim_buf_set_keymap(V.buf, 'n', lhs, '', {
    noremap = true, silent = true, nowait = true,
    callback = function()
      local ok, err = pcall(fn)
      if not ok then util.notify(tostring(err), levels.ERROR) end
    end,
  })
end

local function make_buffer()
  if V.buf and vim.api.nvim_buf_is_valid(V.buf) then return V.buf end
  V.buf = vim.api.nvim_create_buf(false, true)
  pcall(vim.api.nvim_buf_set_name, V.buf, M.bufname)
  local bo = vim.bo[V.buf]
  bo.buftype = 'nofile'
  bo.bufhidden = 'hide'
  bo.swapfile = false
  bo.modifiable = false
  bo.filetype = 'pytestsummary'
  map('<CR>', function() M.jump() end)
  map('<Tab>', function() toggle_fold(M.node_at_cursor()) end)
  map('r', function() M.run_node() end)
  map('o', function() M.output() end)
  map('f', M.toggle_filter)
  map('s', function() M.cycle_sort() end)
  map('m', function() M.toggle_mark() end)
  map('R', M.run_marked)
  map('x', function() require('pytest').stop() end)
  map('[f', function() M.next_failure(-1) end)
  map(']f', function() M.next_failure(1) end)
  map('?', M.help)
  map('q', function() M.close() end)
  return V.buf
end

function M.close()
  if not is_visible() then return false end
  local win = vim.fn.bufwinid(V.buf)
  if #vim.api.nvim_tabpage_list_wins(0) == 1 then
    vim.cmd('enew')
  else
    vim.api.nvim_win_close(win, true)
  end
  return true
end

function M.open()
  local name = vim.api.nvim_buf_get_name(0)
  local file = (name ~= '' and vim.bo.buftype == '' and vim.fn.filereadable(name) == 1) and util.abspath(name) or nil
  make_buffer()
  if not is_visible() then
    vim.cmd('topleft vertical ' .. M.width .. 'split')
    local win = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(win, V.buf)
    local wo = vim.wo[win]
    wo.number, wo.relativenumber, wo.wrap, wo.spell = false, false, false, false
    wo.signcolumn, wo.foldcolumn, wo.cursorline, wo.winfixwidth = 'no', '0', true, true
  end
  local st = tree._state()
  if not st.collected and not tree.collecting() then
    tree.collect({ cwd = st.root or vim.fn.getcwd(), file = st.root and nil or file })
  end
  M.render()
  return V.buf
end

-- :PytestSummary
function M.toggle()
  if is_visible() then
    M.close()
    return false
  end
  M.open()
  return true
end

-- The line of node `id` in the summary buffer when it is shown, else nil; with `cursor`, the
-- cursor goes there.
function M.find(id, cursor)
  local n = tree.node(id)
  local r = n and V.row_of[n]
  if not r then return nil end
  if cursor and is_visible() then vim.api.nvim_win_set_cursor(vim.fn.bufwinid(V.buf), { r + M.header, 0 }) end
  return r + M.header
end

-- The summary's lines (tests).
function M.lines()
  if not V.buf or not vim.api.nvim_buf_is_valid(V.buf) then return {} end
  return vim.api.nvim_buf_get_lines(V.buf, 0, -1, false)
end

return M
