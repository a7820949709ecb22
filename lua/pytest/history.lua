-- pytest.history: :PytestHistory, pick one of the last runs kept by the co-process
-- (`history`) with vim.ui.select and restore its quickfix list, diagnostics and output
-- (`history_get`).
local M = {}

local client = require('pytest.client')
local state = require('pytest.state')
local util = require('pytest.util')

local val = util.val

local function when(t)
  t = tonumber(val(t))
  if not t then return '' end
  if t > 1e12 then t = t / 1000 end -- milliseconds
  return os.date('%H:%M:%S', math.floor(t))
end

-- "#3 14:03:22 failed  3 failed, 120 passed in 2.14s  tests/ -x"
function M.format_item(h)
  local results = require('pytest.results')
  local args = results.args_text(h.args)
  local summary = val(h.summary)
  if type(summary) ~= 'string' or summary == '' then summary = results.describe(h) end
  local parts = { '#' .. tostring(val(h.run_id) or '?') }
  local w = when(h.started_at)
  if w ~= '' then table.insert(parts, w) end
  table.insert(parts, string.format('%-8s', val(h.status) or '?'))
  table.insert(parts, summary)
  local w = package.loaded['pytest.watch'] and require('pytest.watch').describe_run(h)
  if w then
    table.insert(parts, '[' .. w .. ']')
  elseif args ~= '' then
    table.insert(parts, '[' .. args .. ']')
  end
  local peak = tonumber(val(h.peak_rss))
  if peak then table.insert(parts, 'peak ' .. util.bytes(peak)) end
  return util.clean(table.concat(parts, '  '))
end

-- Restore run `run_id`: quickfix list, diagnostics, and what :PytestOutput shows. Asks the
-- co-process without waiting; restores when the answer comes.
function M.restore(run_id)
  client.async('history_get', { run_id }, function(ok, r)
    if not ok or type(r) ~= 'table' then
      util.notify(string.format('run #%s is no longer in the history%s', tostring(run_id),
        ok and '' or (': ' .. tostring(r))), vim.log.levels.WARN)
      return
    end
    M.show(run_id, r)
  end)
end

function M.show(run_id, r)
  local results = require('pytest.results')
  state.view = r
  results.show(r)
  local output = require('pytest.output')
  if vim.fn.bufwinid(output.bufname) ~= -1 then
    local win = vim.api.nvim_get_current_win()
    output.open(r)
    pcall(vim.api.nvim_set_current_win, win)
  end
  util.notify(string.format('restored run #%s: %s', tostring(run_id), results.describe(r)))
  return r
end

-- :PytestHistory: the picker opens when the co-process's answer comes (no waiting).
function M.pick()
  client.async_call('history', {}, function(runs)
    if type(runs) ~= 'table' or #runs == 0 then
      util.notify('no runs in the history yet')
      return
    end
    vim.ui.select(runs, {
      prompt = 'pytest history',
      kind = 'pytest_history',
      format_item = M.format_item,
    }, function(choice)
      if choice then M.restore(val(choice.run_id)) end
    end)
  end)
end

return M
