-- pytest.statusline: a short, cached statusline string built from the last `status` event
-- (and `progress` while running). get() is a table lookup: no RPC, no I/O.
local M = {}

local config = require('pytest.config')
local state = require('pytest.state')
local util = require('pytest.util')

local val = util.val

local cached = ''

M.icons = { running = '▶', passed = '✓', failed = '✗', warn = '⚠', watch = '👁' }

-- "3 failed, 120 passed in 2.14s" -> "3 failed, 120 passed"
local function short_summary(s)
  s = tostring(s or ''):gsub('%s+in%s+[%d%.]+m?s%s*$', '')
  return s
end

local function merged()
  local s = vim.tbl_extend('force', {}, state.status or {})
  -- Our own started/finished events are authoritative over a status pushed just before.
  if state.run_id ~= nil or state.last ~= nil then s.running = state.running end
  if state.running then
    s.running = true
    for _, k in ipairs({ 'done', 'total', 'failed', 'percent', 'tree_rss' }) do
      if state.progress and val(state.progress[k]) ~= nil then s[k] = state.progress[k] end
    end
  end
  for k, v in pairs(s) do
    if v == vim.NIL then s[k] = nil end
  end
  return s
end

local pieces = {}

function pieces.result(s)
  if s.running then
    local done, total, failed = tonumber(s.done), tonumber(s.total), tonumber(s.failed)
    local txt = M.icons.running
    if total and total > 0 then
      txt = string.format('%s %d/%d', txt, done or 0, total)
    elseif tonumber(s.percent) and s.percent > 0 then
      txt = string.format('%s %d%%', txt, s.percent)
    else
      txt = txt .. ' pytest'
    end
    if failed and failed > 0 then txt = string.format('%s %s%d', txt, M.icons.failed, failed) end
    return txt
  end
  local last = state.last
  local summary = last and require('pytest.results').describe(last) or s.last_summary
  if summary == nil or summary == '' then return nil end
  local bad
  if last and val(last.status) then
    bad = val(last.status) ~= 'passed'
  else
    bad = summary:find('failed') or summary:find('error')
  end
  return (bad and M.icons.failed or M.icons.passed) .. ' ' .. short_summary(summary)
end

-- The warm pytests' RSS (|pytest-warm|), after the run's: memory kept between runs.
local function with_warm(txt, s)
  local w = tonumber(s.warm_rss)
  if not w or w <= 0 then return txt end
  return (txt and (txt .. ' ') or '') .. 'warm ' .. util.bytes(w)
end

function pieces.memory(s)
  if s.running then
    return with_warm(tonumber(s.tree_rss) and ('rss ' .. util.bytes(s.tree_rss)) or nil, s)
  end
  local peak
  if state.last and type(val(state.last.memory)) == 'table' then
    peak = tonumber(val(state.last.memory.peak_rss))
  end
  peak = peak or tonumber(s.last_peak_rss)
  return with_warm(peak and ('peak ' .. util.bytes(peak)) or nil, s)
end

function pieces.system(s)
  local parts = {}
  if tonumber(s.sys_used_pct) then table.insert(parts, string.format('mem %d%%', math.floor(s.sys_used_pct + 0.5))) end
  if tonumber(s.swap_pct) then table.insert(parts, string.format('swap %d%%', math.floor(s.swap_pct + 0.5))) end
  if #parts == 0 then return nil end
  return table.concat(parts, ' ')
end

function pieces.warn(s)
  if s.warn == true then return M.icons.warn end
  return nil
end

function pieces.watch()
  if require('pytest.watch').is_on() then return M.icons.watch .. ' watch' end
  return nil
end

-- Recompute the cached string; called on every status/progress/started/finished event.
function M.update()
  local s = merged()
  local out = {}
  for _, name in ipairs(config.get().statusline) do
    local fn = pieces[name]
    local txt = fn and fn(s)
    if txt and txt ~= '' then table.insert(out, txt) end
  end
  local new = util.clean(table.concat(out, ' '))
  if new ~= cached then
    cached = new
    pcall(vim.cmd, 'redrawstatus')
    util.fire('PytestStatus', { text = new })
  end
  return cached
end

-- The statusline component: cached, cheap.
function M.get()
  return cached
end

return M
