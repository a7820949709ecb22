-- pytest.output: :PytestOutput, a scratch buffer with the run's log (or output tail), ANSI
-- colour codes turned into highlights and pytest's own markers (E lines, FAILED, ===) coloured.
local M = {}

local state = require('pytest.state')
local util = require('pytest.util')

local val = util.val

M.ns = vim.api.nvim_create_namespace('pytest_output')
M.bufname = 'pytest://output'
M.max_lines = 20000

local SGR_GROUP = {
  [31] = 'PytestFailed', [91] = 'PytestFailed', [41] = 'PytestFailed',
  [32] = 'PytestPassed', [92] = 'PytestPassed', [42] = 'PytestPassed',
  [33] = 'PytestWarn', [93] = 'PytestWarn', [43] = 'PytestWarn',
  [34] = 'PytestRunning', [94] = 'PytestRunning', [36] = 'PytestRunning', [96] = 'PytestRunning',
  [35] = 'PytestRunning', [95] = 'PytestRunning',
  [90] = 'PytestSkipped', [37] = 'PytestSkipped', [97] = 'PytestSkipped',
}

-- Strip escape sequences and control characters from `line` (util.clean); colour (SGR) becomes
-- highlights, never bytes in the buffer. Returns the text and a list of
-- {col_start, col_end, group} (byte columns in the stripped text).
function M.parse_ansi(line)
  local sgr = {}
  local text = util.clean(line, false, sgr)
  local hls = {}
  local group, start = nil, 0
  for _, s in ipairs(sgr) do
    local len, params = s[1], s[2]
    local new = group
    if params == '' then params = '0' end
    for p in params:gmatch('%d+') do
      local n = tonumber(p)
      if n == 0 or n == 39 then
        new = nil
      elseif SGR_GROUP[n] then
        new = SGR_GROUP[n]
      elseif n == 1 and new == nil then
        new = 'PytestTitle'
      end
    end
    if new ~= group then
      if group and len > start then table.insert(hls, { start, len, group }) end
      group, start = new, len
    end
  end
  if group and #text > start then table.insert(hls, { start, #text, group }) end
  return text, hls
end

-- Highlight for a plain (uncoloured) pytest output line, or nil.
function M.line_group(line)
  if line:match('^E ') or line:match('^E$') then return 'PytestFailed' end
  if line:match('^FAILED ') or line:match('^ERROR ') then return 'PytestFailed' end
  if line:match('^XPASS') or line:match('^XFAIL') then return 'PytestWarn' end
  if line:match('^PASSED') then return 'PytestPassed' end
  if line:match('^SKIPPED') then return 'PytestSkipped' end
  if line:match('^=+ .* =+$') then
    if line:find('failed') or line:find('error') then return 'PytestFailed' end
    if line:find('passed') and not line:find('warning') then return 'PytestPassed' end
    if line:find('warning') or line:find('no tests ran') then return 'PytestWarn' end
    return 'PytestTitle'
  end
  if line:match('^_+ .* _+$') then return 'PytestTitle' end
  if line:match('^[%w_./-]+%.py:%d+:') then return 'PytestLocation' end
  return nil
end

-- Raw lines of a result: the log file when readable, else the output tail.
function M.raw_lines(r)
  local log = val(r.log_path)
  if type(log) == 'string' and util.is_file(log) and vim.fn.filereadable(log) == 1 then
    local ok, lines = pcall(vim.fn.readfile, log, '', -M.max_lines)
    if ok then return lines, log end
  end
  local tail = val(r.output_tail)
  if type(tail) == 'string' and tail ~= '' then
    return vim.split(tail:gsub('\n$', ''), '\n', true), nil
  end
  return {}, nil
end

function M.render(r)
  local raw, log = M.raw_lines(r)
  local results = require('pytest.results')
  local header = {
    '# ' .. results.title(r),
    '# ' .. (log and ('log: ' .. log) or 'output tail (no log file)'),
    '',
  }
  local lines, hls = {}, {}
  for _, h in ipairs(header) do table.insert(lines, h) end
  for _, l in ipairs(raw) do
    local text, spans = M.parse_ansi(l)
    table.insert(lines, text)
    local row = #lines - 1
    if #spans == 0 then
      local g = M.line_group(text)
      if g then table.insert(hls, { row, 0, -1, g }) end
    else
      for _, sp in ipairs(spans) do table.insert(hls, { row, sp[1], sp[2], sp[3] }) end
    end
  end
  if #raw == 0 then table.insert(lines, '(no output captured)') end
  return lines, hls
end

M.test_bufname = 'pytest://test-output'

-- The case of a parametrized test to show: the first that failed, else the first that ran.
function M.pick_case(group)
  local tree = require('pytest.tree')
  local first_run
  for _, c in ipairs(group.children) do
    if tree.category(c.status) == 'failed' then return c end
    if c.status and not first_run then first_run = c end
  end
  return first_run or group.children[1]
end

-- The test the cursor is in: a line of the summary window, or a line of a buffer within a
-- test's definition (the tree knows its lines). nil elsewhere (or without a tree).
function M.test_at_cursor()
  if not package.loaded['pytest.tree'] then return nil end
  local tree = require('pytest.tree')
  local n
  if package.loaded['pytest.summary'] and vim.api.nvim_buf_get_name(0) == require('pytest.summary').bufname then
    n = require('pytest.summary').node_at_cursor()
  else
    local name = vim.api.nvim_buf_get_name(0)
    if name == '' then return nil end
    n = tree.node_at(name, vim.api.nvim_win_get_cursor(0)[1])
  end
  if not n then return nil end
  if n.kind == 'group' then return M.pick_case(n) end
  if tree.is_leaf(n) then return n end
  return nil
end

local function section(lines, title, text)
  if type(text) ~= 'string' or text == '' then return end
  table.insert(lines, '')
  table.insert(lines, '== ' .. title .. ' ==')
  for _, l in ipairs(vim.split((text:gsub('\n$', '')), '\n', true)) do table.insert(lines, l) end
end

-- The `memory` of a test's report ({rss_start, rss_peak, rss_growth, gc}: the plugin's exact
-- measures) as text, or nil.
function M.memory_text(m)
  if type(m) ~= 'table' then return nil end
  local tree = require('pytest.tree')
  local out = {}
  local peak, start, growth = tonumber(val(m.rss_peak)), tonumber(val(m.rss_start)), tonumber(val(m.rss_growth))
  if peak and start and growth then
    table.insert(out, string.format('peak RSS %s, grown by %s from %s at its start (exact: setup, call and teardown)',
      util.bytes(peak), util.bytes(growth), util.bytes(start)))
  end
  local gc = tree.gc_record(val(m.gc))
  if gc then
    local c = gc.collections
    table.insert(out, string.format('garbage collector: %d collections (gen0 %d, gen1 %d, gen2 %d), %d objects '
      .. 'collected, %d uncollectable, %.1f ms; gc.garbage %+d', c[1] + c[2] + c[3], c[1], c[2], c[3], gc.collected,
      gc.uncollectable, gc.ms, gc.garbage))
    local flag = tree.gc_flag_text(gc)
    if flag then table.insert(out, 'flagged: it left objects the collector cannot free (' .. flag .. ')') end
  else
    table.insert(out, 'garbage collector: did not run')
  end
  return table.concat(out, '\n')
end

-- The lines showing one test's report (the answer to `test_output`).
function M.render_test(res)
  local lines = {
    string.format('# %s: %s', util.id_text(tostring(val(res.nodeid) or '?')), tostring(val(res.status) or 'unknown')),
    string.format('# run %s', tostring(val(res.run_id) or '?')),
  }
  local text, message = val(res.text), val(res.message)
  -- a memory failure: the limit that refused the allocation, as the co-process words it
  local ml = val(res.memory_limit)
  if type(ml) == 'table' and type(val(ml.sentence)) == 'string' then
    section(lines, 'memory limit', string.format('%s (cause: %s)', ml.sentence, tostring(val(ml.cause))))
  end
  if type(text) == 'string' and text ~= '' then
    section(lines, 'failure', text)
  else
    section(lines, 'message', message)
  end
  section(lines, 'memory', M.memory_text(val(res.memory)))
  section(lines, 'captured stdout', val(res.stdout))
  section(lines, 'captured stderr', val(res.stderr))
  if #lines == 2 then
    table.insert(lines, '')
    table.insert(lines, '(no failure text and no captured output)')
  end
  return lines
end

local function show_test(lines)
  local bufnr = util.scratch(M.test_bufname, lines, 'pytestoutput')
  vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  for i, l in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)) do
    local g = (l:sub(1, 1) == '#' and 'Comment') or (l:match('^== .* ==$') and 'PytestTitle') or M.line_group(l)
    if g then util.highlight(bufnr, M.ns, g, i - 1, 0, -1, l) end
  end
  return bufnr
end

-- One test's report (its failure text and captured output): asked for with `test_output`
-- (never waiting), shown in a split. A collection error is shown from the tree.
function M.open_test(n)
  local nodeid = n.nodeid or n.id
  if n.kind == 'error' then
    return show_test({ '# ' .. util.id_text(nodeid) .. ': collection error', '', '== collection error ==',
      unpack(vim.split(n.message or '', '\n', true)) })
  end
  return require('pytest.client').async('test_output', { { nodeid = nodeid } }, function(ok, res)
    if not ok or type(res) ~= 'table' then
      util.notify(string.format('no output of %s: %s', util.id_text(nodeid), tostring(res)), vim.log.levels.WARN)
      return
    end
    show_test(M.render_test(res))
  end)
end

-- :PytestOutput
function M.open(r)
  r = r or state.view or state.last
  if not r then
    util.notify('no run yet', vim.log.levels.WARN)
    return nil
  end
  local lines, hls = M.render(r)
  local bufnr = util.scratch(M.bufname, lines, 'pytestoutput')
  vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  local shown = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  util.highlight(bufnr, M.ns, 'Comment', 0, 0, -1, shown[1] or '')
  util.highlight(bufnr, M.ns, 'Comment', 1, 0, -1, shown[2] or '')
  for _, h in ipairs(hls) do
    util.highlight(bufnr, M.ns, h[4], h[1], h[2], h[3], shown[h[1] + 1] or '')
  end
  -- Jump to the end: the summary is what the user looks for first.
  pcall(vim.api.nvim_win_set_cursor, 0, { #lines, 0 })
  return bufnr
end

return M
