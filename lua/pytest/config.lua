-- pytest.config: the option schema, its validation (the ONLY place options are checked) and
-- the effective configuration. Works without setup(): get() returns the defaults.
local M = {}

local uv = vim.uv or vim.loop -- vim.loop: before 0.10

-- Directory of the plugin (the one holding lua/, plugin/, build/).
local function plugin_root()
  local src = debug.getinfo(1, 'S').source
  src = src:sub(1, 1) == '@' and src:sub(2) or src
  local root = vim.fn.fnamemodify(src, ':p:h:h:h')
  return (root:gsub('/$', ''))
end
M.plugin_root = plugin_root()

-- stdpath('state') is 0.8+; 0.7 raises on the unknown name.
local function state_dir()
  local ok, dir = pcall(vim.fn.stdpath, 'state')
  if not ok or type(dir) ~= 'string' or dir == '' then
    dir = vim.fn.stdpath('cache')
  end
  return dir
end

-- The co-process refuses values outside these ranges too (its `configure` and `run` params).
M.TIMEOUT_MAX = 30 * 24 * 3600

local function integer_in(v, lo, hi)
  if v ~= v or v ~= math.floor(v) or v < lo or v > hi then
    return string.format('must be an integer from %d to %d', lo, hi)
  end
end

M.statusline_pieces = { 'result', 'memory', 'system', 'warn', 'watch' }
M.open_quickfix_values = { 'on_failure', 'always', 'never' }

-- name -> { types (list), default (value or function), description, check (optional) }
-- An option whose default is the co-process's (`coprocess = true`) defaults to nil here and is
-- sent only when the user set it: the co-process owns the value (its `version` answer says it,
-- src/server.h and the headers it names), so the two cannot disagree.
-- Order matters for docs and error messages only through `M.option_names`.
M.schema = {
  bin = {
    types = { 'string' },
    default = function() return M.plugin_root .. '/build/pytestmon' end,
    description = 'Path of the pytestmon co-process ($PYTESTMON_BIN overrides it).',
  },
  python = {
    types = { 'string', 'function', 'nil' },
    default = nil,
    description = 'Python interpreter running pytest; a string, or a function(root) returning one. '
      .. 'nil: $VIRTUAL_ENV, then <root>/.venv or <root>/venv, then "python3".',
  },
  prefix = {
    types = { 'table', 'function', 'nil' },
    default = nil,
    description = 'The command that runs a program where the tests live, before every pytest we start '
      .. "(list of strings, e.g. {'docker', 'compose', 'exec', '-T', 'app'} or {'ssh', 'host'}), "
      .. 'or a function(root) returning one. python is then the interpreter there ("python3" when nil).',
    check = function(v)
      if type(v) ~= 'table' then return end
      for i, a in ipairs(v) do
        if type(a) ~= 'string' then
          return string.format('must be a list of strings, item %d is %s', i, type(a))
        end
      end
      if #v == 0 then return 'must not be empty (nil: no prefix)' end
    end,
  },
  path_map = {
    types = { 'table', 'function', 'nil' },
    default = nil,
    description = "Where the tests see a directory -> where the editor sees it, e.g. {['/app'] = '/home/me/proj'} "
      .. '(absolute paths; several entries allowed), or a function(root) returning one. Used with prefix.',
    check = function(v)
      if type(v) ~= 'table' then return end
      for k, x in pairs(v) do
        if type(k) ~= 'string' or type(x) ~= 'string' or k:sub(1, 1) ~= '/' or x:sub(1, 1) ~= '/' then
          return 'must map absolute paths to absolute paths'
        end
      end
    end,
  },
  args = {
    types = { 'table' },
    default = function() return {} end,
    description = 'Extra pytest arguments prepended to every run (list of strings).',
    check = function(v)
      for i, a in ipairs(v) do
        if type(a) ~= 'string' then
          return string.format('must be a list of strings, item %d is %s', i, type(a))
        end
      end
    end,
  },
  env = {
    types = { 'table' },
    default = function() return {} end,
    description = 'Extra environment variables for pytest (map of name to string).',
    check = function(v)
      for k, x in pairs(v) do
        if type(k) ~= 'string' or type(x) ~= 'string' then
          return 'must map strings to strings'
        end
      end
    end,
  },
  timeout = {
    types = { 'number' },
    default = 0,
    description = 'Seconds before a run is stopped; 0 means no timeout (at most 30 days).',
    check = function(v)
      if v ~= v or v < 0 or v > M.TIMEOUT_MAX then
        return string.format('must be between 0 and %d seconds', M.TIMEOUT_MAX)
      end
    end,
  },
  history_size = {
    types = { 'number', 'nil' },
    coprocess = true,
    description = 'How many runs the co-process keeps for :PytestHistory (1 to 1000; nil: the '
      .. "co-process's default, 5).",
    check = function(v) return integer_in(v, 1, 1000) end,
  },
  sample_interval_ms = {
    types = { 'number', 'nil' },
    coprocess = true,
    description = 'Memory sampling interval of the test process tree, in milliseconds (20 to 60000; '
      .. "nil: the co-process's default, 100).",
    check = function(v) return integer_in(v, 20, 60000) end,
  },
  statusline = {
    types = { 'table' },
    default = function() return vim.deepcopy(M.statusline_pieces) end,
    description = 'Pieces of require("pytest").statusline(), in order: '
      .. '"result", "memory", "system", "warn", "watch".',
    check = function(v)
      for i, p in ipairs(v) do
        if not vim.tbl_contains(M.statusline_pieces, p) then
          return string.format('item %d must be one of "%s", got %s', i,
            table.concat(M.statusline_pieces, '", "'), vim.inspect(p))
        end
      end
    end,
  },
  diagnostics = {
    types = { 'boolean' },
    default = true,
    description = 'Show failures with vim.diagnostic at the failing lines.',
  },
  open_quickfix = {
    types = { 'string' },
    default = 'on_failure',
    description = 'When to open the quickfix window: "on_failure", "always" or "never".',
    check = function(v)
      if not vim.tbl_contains(M.open_quickfix_values, v) then
        return string.format('must be one of "%s", got %s',
          table.concat(M.open_quickfix_values, '", "'), vim.inspect(v))
      end
    end,
  },
  notify = {
    types = { 'boolean' },
    default = true,
    description = 'Announce each run result with vim.notify.',
  },
  watch_debounce_ms = {
    types = { 'number', 'nil' },
    coprocess = true,
    description = ':PytestWatch waits this many milliseconds after a save for more saves before '
      .. "it reruns (0 to 60000; nil or 0: the co-process's default, 200).",
    check = function(v) return integer_in(v, 0, 60000) end,
  },
  debug_config = {
    types = { 'table' },
    default = function() return {} end,
    description = 'Entries merged into the nvim-dap launch configuration of :PytestDebug '
      .. '(e.g. { console = "integratedTerminal" }).',
  },
  debug_attach_timeout_ms = {
    types = { 'number', 'nil' },
    coprocess = true,
    description = ':PytestDebug without nvim-dap: a debugpy that no debugger attached to within '
      .. "this many milliseconds is ended (100 to 86400000; nil: the co-process's default, 5 minutes).",
    check = function(v) return integer_in(v, 100, 86400000) end,
  },
  marks = {
    types = { 'boolean' },
    default = true,
    description = 'Marks at every test definition in open buffers (status sign, parametrized '
      .. 'counts, memory and duration as virtual text); false removes them.',
  },
  warm = {
    types = { 'boolean' },
    default = true,
    description = "Runs (and Nearest's lookup) are forks of a warm pytest of the project, started after its "
      .. 'first run (the result says warm, or why it ran cold); false: every run starts a cold pytest.',
  },
  memory_budget = {
    types = { 'number' },
    default = 0,
    description = "A test whose exact peak RSS growth is above this many MiB is a warning (quickfix type W, "
      .. 'a mark, the tree), not a failure; 0 means none (0 to 1048576).',
    check = function(v)
      if v ~= v or v < 0 or v > 1048576 then return 'must be between 0 and 1048576' end
    end,
  },
  marks_memory_mb = {
    types = { 'number' },
    default = 50,
    description = "Show a test's peak RSS growth at its definition when it is above this many MiB "
      .. '(0 to 1048576).',
    check = function(v)
      if v ~= v or v < 0 or v > 1048576 then return 'must be between 0 and 1048576' end
    end,
  },
  marks_slowest = {
    types = { 'number' },
    default = 3,
    description = "Show the durations of the last run's N slowest tests at their definitions "
      .. '(0 to 100; 0: none).',
    check = function(v) return integer_in(v, 0, 100) end,
  },
  collect_debounce_ms = {
    types = { 'number' },
    default = 300,
    description = 'After a Python file under the root is written, the tests are collected again '
      .. 'once no more writes came for this many milliseconds (0 to 60000).',
    check = function(v) return integer_in(v, 0, 60000) end,
  },
  log_dir = {
    types = { 'string' },
    default = function() return state_dir() .. '/pytest' end,
    description = 'Where the co-process writes run logs (stdpath("state")/pytest; cache on 0.7).',
    check = function(v) if v == '' then return 'must not be empty' end end,
  },
}

M.option_names = vim.tbl_keys(M.schema)
table.sort(M.option_names)

local function default_of(name)
  local d = M.schema[name].default
  if type(d) == 'function' then return d() end
  return d
end

local function defaults()
  local c = {}
  for _, name in ipairs(M.option_names) do c[name] = default_of(name) end
  return c
end

-- Validate a user table; raises error('(pytest) ...', 0). Returns the merged config.
function M.validate(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= 'table' then
    error(string.format('(pytest) setup() expects a table, got %s', type(opts)), 0)
  end
  local unknown = {}
  for k in pairs(opts) do
    if M.schema[k] == nil then table.insert(unknown, tostring(k)) end
  end
  if #unknown > 0 then
    table.sort(unknown)
    error(string.format("(pytest) unknown option '%s'", unknown[1]), 0)
  end
  local cfg = defaults()
  for _, name in ipairs(M.option_names) do
    local v = opts[name]
    local spec = M.schema[name]
    if v ~= nil then
      if not vim.tbl_contains(spec.types, type(v)) then
        local allowed = vim.tbl_filter(function(t) return t ~= 'nil' end, spec.types)
        error(string.format("(pytest) option '%s' must be %s, got %s",
          name, table.concat(allowed, ' or '), type(v)), 0)
      end
      if spec.check then
        local msg = spec.check(v)
        if msg then error(string.format("(pytest) option '%s' %s", name, msg), 0) end
      end
      cfg[name] = v
    end
  end
  return cfg
end

local current = nil

function M.setup(opts)
  current = M.validate(opts)
  return current
end

-- The effective configuration (defaults until setup() is called).
function M.get()
  if current == nil then current = defaults() end
  return current
end

-- Path of the co-process: $PYTESTMON_BIN wins (used by the tests), then `bin`.
function M.bin()
  local env = uv.os_getenv('PYTESTMON_BIN')
  if env and env ~= '' then return env end
  return M.get().bin
end

return M
