-- pytest.memory: :PytestMemory, a scratch buffer with the co-process's memory report (`mem`:
-- which limit the next allocation would hit), the last run's RSS timeline drawn with block
-- characters, its top growers, and the peak RSS of the runs in the history.
local M = {}

local client = require('pytest.client')
local state = require('pytest.state')
local util = require('pytest.util')

local val, list = util.val, util.list
local B = util.bytes

M.bufname = 'pytest://memory'
-- A row of the report's sections: label, value (MEMREPORT_ROW_FORMAT in src/mem/memreport.h).
M.ROW_FORMAT = '  %-18s %s'
M.ns = vim.api.nvim_create_namespace('pytest_memory')

local EIGHTHS_UP = { '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█' }
local EIGHTHS_RIGHT = { '▏', '▎', '▍', '▌', '▋', '▊', '▉', '█' }

local function num(v)
  v = val(v)
  return type(v) == 'number' and v or nil
end

local function pct(v)
  v = num(v)
  return v and string.format('%.1f%%', v) or '-'
end

-- Columns of a vertical bar chart: values -> `height` lines of block characters, scaled to
-- `top` when it is higher than every value (the run's peak, which a sample may have missed).
function M.chart(values, height, top)
  local maxv = tonumber(top) or 0
  for _, v in ipairs(values) do maxv = math.max(maxv, v) end
  local rows = {}
  for r = height, 1, -1 do
    local cells = {}
    for _, v in ipairs(values) do
      local eighths = maxv > 0 and math.floor(v / maxv * height * 8 + 0.5) or 0
      local here = eighths - (r - 1) * 8
      if here >= 8 then
        table.insert(cells, '█')
      elseif here >= 1 then
        table.insert(cells, EIGHTHS_UP[here])
      elseif r == 1 and v > 0 then
        table.insert(cells, '▁')
      else
        table.insert(cells, ' ')
      end
    end
    table.insert(rows, table.concat(cells))
  end
  return rows, maxv
end

-- A horizontal bar of `width` cells for value/maxv.
function M.hbar(value, maxv, width)
  if not maxv or maxv <= 0 or not value then return '' end
  local eighths = math.floor(value / maxv * width * 8 + 0.5)
  local full = math.floor(eighths / 8)
  local rest = eighths % 8
  local s = string.rep('█', full)
  if rest > 0 then s = s .. EIGHTHS_RIGHT[rest] end
  if s == '' and value > 0 then s = '▏' end
  return s
end

-- Resample a timeline to at most `width` columns (max per column).
function M.resample(timeline, width)
  local n = #timeline
  local out = {}
  if n == 0 then return out end
  local cols = math.min(width, n)
  for c = 1, cols do
    local a = math.floor((c - 1) * n / cols) + 1
    local b = math.max(a, math.floor(c * n / cols))
    local m = 0
    for i = a, b do m = math.max(m, num(timeline[i].rss) or 0) end
    table.insert(out, m)
  end
  return out
end

-- The sentence about the binding constraint (binding.sentence when the co-process sends one).
function M.binding_sentence(rep)
  local b = val(rep.binding)
  if type(b) == 'table' and type(val(b.sentence)) == 'string' and b.sentence ~= '' then return b.sentence end
  if type(val(rep.sentence)) == 'string' and rep.sentence ~= '' then return rep.sentence end
  return nil
end

-- processes = [{role, pid, process = {rss, vms, ...}, tree = {nproc, rss, vms}}] ->
-- a table with one column per role (editor, co-process, pytest tree).
function M.process_table(procs)
  local by = {}
  for _, p in ipairs(list(procs)) do
    if type(p) == 'table' and val(p.role) then by[p.role] = p end
  end
  local function cell(role, f)
    local p = by[role]
    if not p then return '-' end
    local v = f(type(val(p.process)) == 'table' and p.process or {}, type(val(p.tree)) == 'table' and p.tree or {}, p)
    return v == nil and '-' or tostring(v)
  end
  local function sz(v) v = num(v) return v and B(v) or nil end
  local rows = {
    { 'pid', function(_, _, p) return num(p.pid) end },
    { 'rss', function(pr) return sz(pr.rss) end },
    { 'vms', function(pr) return sz(pr.vms) end },
    { 'uss', function(pr) return sz(pr.uss) end },
    { 'swap', function(pr) return sz(pr.vm_swap) end },
    { 'tree processes', function(_, t) return num(t.nproc) end },
    { 'tree rss', function(_, t) return sz(t.rss) end },
    { 'tree vms', function(_, t) return sz(t.vms) end },
  }
  local fmt = '  %-16s %12s %12s %12s'
  local out = { string.format(fmt, '', 'editor', 'co-process', 'pytest') }
  for _, r in ipairs(rows) do
    table.insert(out, string.format(fmt, r[1], cell('editor', r[2]), cell('co-process', r[2]), cell('pytest', r[2])))
  end
  return out, by
end

-- add(line, group): appends a line to `out` and, with a highlight group, its highlight to `hl`.
local function adder(out, hl)
  return function(s, group)
    table.insert(out, s)
    if group then table.insert(hl, { #out - 1, group }) end
  end
end

local function report_head(rep, out, hl)
  local add = adder(out, hl)
  local verdict = val(rep.verdict) or '?'
  local vgroup = verdict == 'ok' and 'PytestPassed' or (verdict == 'near' and 'PytestWarn' or 'PytestFailed')
  local b = val(rep.binding)
  local head = string.format('Headroom: %s', verdict)
  if type(b) == 'table' then
    head = string.format('%s (binding constraint: %s, %s, %s)', head, val(b.label) or '?', val(b.name) or '?',
      pct(b.percent))
  end
  add(head, vgroup)
  local sentence = M.binding_sentence(rep)
  if sentence then add('  ' .. sentence, vgroup) end
end

local function report_body(rep, out, hl)
  local add = adder(out, hl)
  local procs = list(val(rep.processes))
  if #procs > 0 then
    add('')
    add('Processes', 'PytestTitle')
    local rows, by = M.process_table(procs)
    for _, l in ipairs(rows) do add(l) end
    if not by.pytest then add('  (pytest is not running)') end
  end
  -- The warm pytests runs are forked from (doc/pytest.txt |pytest-warm|): theirs is memory the
  -- co-process keeps between runs, and a refusal says why a project's runs are cold.
  local warm = list(val(rep.warm))
  if #warm > 0 then
    add('')
    add('Warm pytests', 'PytestTitle')
    for _, w in ipairs(warm) do
      local line = string.format('  %-8s %s', tostring(val(w.state) or '?'), tostring(val(w.root) or '?'))
      if num(w.pid) then line = line .. string.format('  pid %d, rss %s', num(w.pid), B(num(w.rss))) end
      if val(w.reason) then line = line .. ': ' .. util.clean(tostring(val(w.reason))) end
      add(line, val(w.state) == 'refused' and 'PytestWarn' or nil)
    end
  end
  local trend = val(rep.trend)
  if type(trend) == 'table' then
    add('')
    local runs = num(trend.runs) or 0
    add(string.format('Trend across runs with the same args (%d run%s)', runs, runs == 1 and '' or 's'),
      'PytestTitle')
    local growing = false
    for _, m in ipairs(list(val(trend.metrics))) do
      if val(m.growing) == true then growing = true end
    end
    if val(trend.sentence) then add('  ' .. tostring(trend.sentence), growing and 'PytestWarn' or nil) end
    for _, m in ipairs(list(val(trend.metrics))) do
      local g = val(m.growing) == true
      add(string.format('  %-18s %9s -> %s%s', val(m.label) or val(m.name) or '?', B(num(m.first)),
        B(num(m.last)), g and '  (growing)' or ''), g and 'PytestWarn' or nil)
    end
  end
  if val(rep.memlog_error) then
    add('Memory log: ' .. tostring(rep.memlog_error), 'PytestWarn')
  elseif val(rep.memlog_path) then
    add('Memory log: ' .. tostring(rep.memlog_path))
  end
  -- The report itself: the co-process's sections, as `pytestmon mem` prints them.
  for _, s in ipairs(list(val(rep.sections))) do
    add('')
    add(tostring(val(s.title) or '?'), 'PytestTitle')
    for _, r in ipairs(list(val(s.rows))) do
      local v = val(r.verdict)
      add(string.format(M.ROW_FORMAT, tostring(val(r.label) or '?'), tostring(val(r.value) or '')),
        v == 'exceeded' and 'PytestFailed' or (v == 'near' and 'PytestWarn' or nil))
    end
  end
end

local function run_lines(r, out, hl)
  local add = adder(out, hl)
  local results = require('pytest.results')
  add('')
  add('Last run: ' .. results.title(r), 'PytestTitle')
  -- pytest's duration is in the summary; ours (spawn to exit: the interpreter's start and the
  -- collection too) is told as what it is
  local wall, own = num(r.seconds), num(r.pytest_seconds)
  if wall then
    add(string.format('  wall clock %.2fs (spawn to exit)%s', wall,
      own and string.format('; pytest says %.2fs', own) or ''))
  end
  if val(r.warm) == true then
    add('  warm: a fork of the warm pytest')
  elseif val(r.warm_reason) then
    add('  cold: ' .. util.clean(tostring(val(r.warm_reason))))
  end
  local mem = val(r.memory)
  if type(mem) ~= 'table' then
    add('  (no memory data)')
    return
  end
  local diag = M.diagnosis(r)
  if diag then add('  Diagnosis: ' .. diag, 'PytestFailed') end
  -- Through a prefix (a container, ssh) pytest's limits are where it runs, not this machine's
  -- (the headroom above): our plugin read them there (`where_pytest_runs`, src/mem/memfail.h).
  local where = val(mem.where_pytest_runs)
  if type(where) == 'table' then
    add('  where pytest runs (through the prefix), the lowest limit: ' .. tostring(val(where.sentence) or '?'))
    local parts = {}
    for _, k in ipairs({ { 'rlimit_as', 'RLIMIT_AS' }, { 'rlimit_data', 'RLIMIT_DATA' }, { 'mem_total', 'RAM' },
      { 'mem_available', 'available' } }) do
      if num(where[k[1]]) then table.insert(parts, k[2] .. ' ' .. B(num(where[k[1]]))) end
    end
    if #parts > 0 then add('    also there: ' .. table.concat(parts, ', ')) end
  end
  -- The run's peak: the one number the status line and the history show too. Exact when the
  -- plugin measured it (peak_source "plugin": the highest peak of any one process of the run, a
  -- test's own or its process's before its first test); else the samples'. The tree's sum is
  -- sampled (tree_peak_rss); the chart is scaled to the higher of the two.
  local peak = num(mem.peak_rss)
  local exact = val(mem.peak_source) == 'plugin'
  local vms = num(mem.peak_vms)
  -- (through a prefix nothing is sampled here: peak_vms 0, peak_source "none" without the plugin)
  add(string.format('  peak rss %s%s%s', B(peak), (vms and vms > 0) and (', peak vms ' .. B(vms)) or '',
    exact and ' (exact: the highest of one process)' or (val(mem.peak_source) == 'none' and ' (not measured)' or ' (sampled)')))
  local when, test = val(mem.peak_when), val(mem.peak_test)
  if when == 'before' and test then
    add('  peak before the first test of its process (start-up, imports, collection): ' .. tostring(test))
  elseif when == 'pytest' then
    add("  peak in pytest's own process, outside the measured tests")
  elseif test then
    add('  test running at the peak: ' .. tostring(test))
  end
  local tree = num(mem.tree_peak_rss)
  if exact and tree and tree > 0 then
    add(string.format("  tree rss %s at most (sampled sum of pytest's processes)", B(tree)))
  end
  local tl = list(val(mem.timeline))
  if #tl > 0 then
    local cols = M.resample(tl, 72)
    local rows, maxv = M.chart(cols, 6, peak)
    local last_t = num(tl[#tl].t_ms) or 0
    add(string.format('  RSS timeline (%d samples over %.1fs, peak %s)', #tl, last_t / 1000, B(peak or maxv)))
    for i, row in ipairs(rows) do
      local label = i == 1 and string.format('%8s ', B(maxv)) or string.rep(' ', 9)
      add('  ' .. label .. '│' .. row, nil)
      table.insert(hl, { #out - 1, 'PytestMemoryBar', #('  ' .. label .. '│') })
    end
    add('  ' .. string.rep(' ', 9) .. '└' .. string.rep('─', #cols))
    add(string.format('  %9s 0s%s%.1fs', '', string.rep(' ', math.max(#cols - 6, 1)), last_t / 1000))
  end
  local growth = list(val(mem.top_growth))
  if val(mem.top_growth_source) == 'plugin' then
    M.top_lines(mem, add)
  elseif #growth > 0 then
    add('  Top RSS growth (sampled):')
    for _, g in ipairs(growth) do
      add(string.format('    %9s  %s', '+' .. B(num(g.growth)), val(g.nodeid) or '?'))
    end
  end
end

-- One test of a top list: its exact peak, growth and time in the garbage collector, its status
-- and node id, and what marks it (over the memory budget, a flagged collector record).
function M.top_row(t)
  local tree = require('pytest.tree')
  local peak, growth = num(t.peak), num(t.growth)
  local gc = tree.gc_record(val(t.gc))
  local flags = {}
  if val(t.over_budget) == true then table.insert(flags, 'over memory budget') end
  local flag = tree.gc_flag_text(gc)
  if flag then table.insert(flags, flag) end
  local icon = require('pytest.marks').icons[val(t.status) or ''] or ' '
  return string.format('    %8s %8s %9s  %s %s%s', peak and B(peak) or '-', growth and ('+' .. B(growth)) or '-',
    gc and string.format('%.1fms', gc.ms) or '-', icon, util.id_text(tostring(val(t.nodeid) or '?')),
    #flags > 0 and ('  [' .. table.concat(flags, ', ') .. ']') or '')
end

-- The run's tests with the highest exact peak, growth and time in the garbage collector
-- (|pytest-memory-measured|), each list a table with the same columns.
function M.top_lines(mem, add)
  for _, l in ipairs({ { 'top_peak', 'peak RSS' }, { 'top_growth', 'RSS growth' },
    { 'top_gc', 'time in the garbage collector' } }) do
    local rows = list(val(mem[l[1]]))
    if #rows > 0 then
      add(string.format('  Tests by %s (exact, top %d):', l[2], #rows))
      add(string.format('    %8s %8s %9s', 'peak', 'growth', 'gc'), 'PytestTitle')
      for _, t in ipairs(rows) do
        if type(t) == 'table' then add(M.top_row(t)) end
      end
    end
  end
end

-- "<diagnosis> (cause: RLIMIT_AS)" for a run whose memory has a diagnosis, else nil.
function M.diagnosis(r)
  local mem = type(r) == 'table' and val(r.memory)
  if type(mem) ~= 'table' then return nil end
  local d = val(mem.diagnosis)
  if type(d) ~= 'string' or d == '' then return nil end
  local cause = val(mem.diagnosis_cause)
  if type(cause) == 'string' and cause ~= '' and cause ~= 'none' then
    d = string.format('%s (cause: %s)', d, cause)
  end
  return d
end

local function history_lines(runs, out, hl)
  if #runs == 0 then return end
  local add = adder(out, hl)
  add('')
  add('Peak RSS across history (newest first)', 'PytestTitle')
  local maxv = 0
  for _, h in ipairs(runs) do maxv = math.max(maxv, num(h.peak_rss) or 0) end
  for _, h in ipairs(runs) do
    local bar = M.hbar(num(h.peak_rss), maxv, 30)
    local prefix = string.format('  #%-4s %8s ', tostring(val(h.run_id) or '?'), B(num(h.peak_rss)))
    add(prefix .. bar .. string.rep(' ', 31 - vim.fn.strchars(bar)) .. (val(h.summary) or val(h.status) or ''))
    table.insert(hl, { #out - 1, 'PytestMemoryBar', #prefix, #prefix + #bar })
  end
end

-- Lines and highlights of the whole report (report/history may be nil, err strings explain).
function M.render(report, report_err, last, runs)
  local out, hl = {}, {}
  local add = adder(out, hl)
  add('# pytest memory report', 'PytestTitle')
  if type(report) == 'table' then
    report_head(report, out, hl)
  else
    add('Memory report unavailable: ' .. tostring(report_err or 'no answer'), 'PytestWarn')
  end
  local diag = M.diagnosis(last)
  if diag then add(string.format('Last run #%s: %s', tostring(val(last.run_id) or '?'), diag), 'PytestFailed') end
  if type(report) == 'table' then report_body(report, out, hl) end
  if last then run_lines(last, out, hl) end
  history_lines(runs or {}, out, hl)
  return out, hl
end

-- :PytestMemory: asks for the report and the history without waiting; the buffer opens when
-- both answers are in (or with what went wrong). `done(bufnr)` (optional) runs then.
function M.open(done)
  client.async('mem', { vim.empty_dict() }, function(ok, report)
    if not ok then
      local bufnr = M.show(nil, report, {})
      if done then done(bufnr) end
      return
    end
    client.async('history', {}, function(hok, h)
      local bufnr = M.show(report, nil, (hok and type(h) == 'table') and h or {})
      if done then done(bufnr) end
    end)
  end)
end

-- Fills pytest://memory with a report (or the reason there is none) and the history.
function M.show(rep, err, runs)
  local lines, hls = M.render(rep, err, state.view or state.last, runs)
  local bufnr = util.scratch(M.bufname, lines, 'pytestmemory')
  vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  local shown = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  for _, h in ipairs(hls) do
    util.highlight(bufnr, M.ns, h[2], h[1], h[3] or 0, h[4] or -1, shown[h[1] + 1] or '')
  end
  return bufnr
end

return M
