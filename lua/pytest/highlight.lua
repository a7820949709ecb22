-- pytest.highlight: the plugin's highlight groups, all `default` links to standard groups so
-- colour schemes and users can override them. Re-applied on ColorScheme.
local M = {}

-- group -> list of candidates; the first that exists is linked (DiagnosticOk is 0.10+).
M.groups = {
  PytestPassed = { 'DiagnosticOk', 'MoreMsg' },
  PytestFailed = { 'DiagnosticError', 'ErrorMsg' },
  PytestError = { 'DiagnosticError', 'ErrorMsg' },
  PytestWarn = { 'DiagnosticWarn', 'WarningMsg' },
  PytestSkipped = { 'Comment' },
  PytestRunning = { 'DiagnosticInfo', 'Question' },
  PytestNotRun = { 'NonText' },
  PytestDuration = { 'Comment' },
  PytestTitle = { 'Title' },
  PytestLocation = { 'Directory' },
  PytestMemoryBar = { 'DiagnosticInfo', 'Identifier' },
  PytestMemoryPeak = { 'DiagnosticWarn', 'WarningMsg' },
  PytestUncovered = { 'DiagnosticWarn', 'WarningMsg' },
}

M.names = vim.tbl_keys(M.groups)
table.sort(M.names)

function M.apply()
  for _, name in ipairs(M.names) do
    local target = M.groups[name][#M.groups[name]]
    for _, cand in ipairs(M.groups[name]) do
      if vim.fn.hlexists(cand) == 1 then
        target = cand
        break
      end
    end
    vim.cmd(string.format('highlight default link %s %s', name, target))
  end
end

return M
