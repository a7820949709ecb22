-- pytest.state: the plugin's shared mutable state (one table, no logic), so modules can read
-- what the others learned without requiring each other in circles.
local M = {
  running = false, -- a run was started and has not finished
  run_id = nil, -- id of the active/last run (from `run` or `started`)
  request = nil, -- last run request sent: { cwd, args (list), python, file, display }
  progress = nil, -- last `progress` payload of the active run
  tests = {}, -- nodeid -> latest `tests` entry {nodeid, status, duration_s, rss_growth_bytes} of the current run
  status = nil, -- last `status` payload
  last = nil, -- last `finished` payload
  view = nil, -- result shown by :PytestOutput/:PytestSlowest (last, or one restored from history)
}

return M
