-- pytest.nvim (pytestmon): user commands and highlight groups; everything else loads lazily.
if vim.g.loaded_pytest == 1 then return end
vim.g.loaded_pytest = 1

if vim.fn.has('nvim-0.7') ~= 1 then
  vim.api.nvim_echo({ { 'pytest: Neovim >= 0.7 is required', 'ErrorMsg' } }, true, {})
  return
end

local function api() return require('pytest') end

local commands = {
  PytestRun = {
    function(o) api()._command_run(o.args) end,
    { nargs = '*', complete = function(lead) return api()._complete(lead) end, desc = 'Run pytest [args]' },
  },
  PytestFile = { function() api().run_file() end, { desc = 'Run pytest on the current file' } },
  PytestNearest = { function() api().run_nearest() end, { desc = 'Run the test under the cursor' } },
  PytestLast = { function() api().run_last() end, { desc = 'Re-run the last pytest run' } },
  PytestFailed = { function() api().run_failed() end, { desc = 'Re-run failed tests (--lf)' } },
  PytestWatch = {
    function(o) api()._command_watch(o.args) end,
    { nargs = '*', complete = function(lead) return api()._complete(lead) end,
      desc = 'Toggle rerunning the tests each save affects [args]' },
  },
  PytestStop = { function() api().stop() end, { desc = 'Stop the active pytest run' } },
  PytestOutput = {
    function() api().output() end,
    { desc = "Show the test's report under the cursor, else the output of the last run" },
  },
  PytestSummary = { function() api().summary() end, { desc = 'Toggle the test tree window' } },
  PytestSlowest = {
    function(o) api().slowest(o.args ~= '' and o.args or nil) end,
    { nargs = '?', desc = 'Quickfix list of the N slowest tests' },
  },
  PytestDebug = {
    function(o) api().debug(o.args) end,
    { nargs = '?', complete = function() return { 'file' } end, desc = 'Debug the test under the cursor [file]' },
  },
  PytestMemory = { function() api().memory() end, { desc = 'Memory report and RSS timeline' } },
  PytestHistory = { function() api().history() end, { desc = 'Pick one of the last runs' } },
  PytestCoverage = {
    function(o) api()._command_coverage(o.args) end,
    {
      nargs = '*',
      complete = function(lead) return lead == '' and { 'off' } or api()._complete(lead) end,
      desc = 'Run pytest with coverage (signs at uncovered lines) [args] | off',
    },
  },
}

for name, def in pairs(commands) do
  vim.api.nvim_create_user_command(name, def[1], def[2])
end

require('pytest.highlight').apply()
local group = vim.api.nvim_create_augroup('pytest_highlight', { clear = true })
vim.api.nvim_create_autocmd('ColorScheme', {
  group = group,
  callback = function() require('pytest.highlight').apply() end,
})
