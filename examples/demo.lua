-- Headless demo: what a user sees after :PytestRun on examples/demo.
-- Run through examples/demo.sh (make demo). Prints the quickfix list, the notification,
-- the status line and the :PytestMemory report, then quits.
local root = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h')
vim.opt.runtimepath:prepend(root)
vim.cmd('runtime plugin/pytest.lua')

local notes = {}
vim.notify = function(msg, level)
  table.insert(notes, { msg = msg, level = level })
end

local python = vim.env.PYTESTMON_PYTHON or '/usr/bin/python3'
require('pytest').setup({ python = python, open_quickfix = 'never' })
vim.cmd('cd ' .. vim.fn.fnameescape(root .. '/examples/demo'))

local function out(s)
  io.stdout:write(s .. '\n')
end

local finished = false
vim.api.nvim_create_autocmd('User', {
  pattern = 'PytestFinished',
  callback = function()
    finished = true
  end,
})

local max_status = ''
local timer = (vim.uv or vim.loop).new_timer()
timer:start(50, 50, vim.schedule_wrap(function()
  local s = require('pytest').statusline()
  if s:find('running') or s:find('%%') then
    max_status = s
  end
end))

out('$ nvim examples/demo   then   :PytestRun')
vim.cmd('PytestRun')
if not vim.wait(120000, function() return finished end, 50) then
  out('demo: the run did not finish within 120 s')
  os.exit(1)
end
timer:stop()
timer:close()

out('')
out('== quickfix list: ' .. vim.fn.getqflist({ title = 1 }).title)
for _, item in ipairs(vim.fn.getqflist()) do
  out(string.format('%s|%d| %s %s', vim.fn.fnamemodify(vim.fn.bufname(item.bufnr), ':.'), item.lnum,
    item.type, item.text))
end
out('')
out('== notification')
for _, n in ipairs(notes) do
  out(n.msg)
end
out('')
out('== status line while running (last seen): ' .. max_status)
out('== status line now: ' .. require('pytest').statusline())
out('')
vim.cmd('PytestMemory')
-- The command never waits on the co-process: the report arrives as an event.
vim.wait(30000, function() return require('pytest.client').pending() == 0 end, 10)
out('== :PytestMemory')
for _, line in ipairs(vim.api.nvim_buf_get_lines(0, 0, -1, false)) do
  out(line)
end
vim.cmd('qa!')
