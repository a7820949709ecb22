-- pytest.nearest: the pytest node id of the test (function, method or class) at the cursor.
-- Uses Tree-sitter when a Python parser is installed, else an indentation scan of
-- `def test_*` / `class Test*` lines (works on 0.7 without parsers).
local M = {}

local util = require('pytest.util')

local function is_test_func(name) return name:match('^test') ~= nil end
local function is_test_class(name) return name:match('^Test') ~= nil end

-- chain: enclosing definitions, outermost first: { {kind='class'|'def', name=...}, ... }.
-- Returns the node id suffix parts ({'TestA', 'test_x'}) or nil.
function M.parts_from_chain(chain)
  local parts = {}
  for _, d in ipairs(chain) do
    if d.kind == 'class' and is_test_class(d.name) then
      table.insert(parts, d.name)
    elseif d.kind == 'def' and is_test_func(d.name) then
      table.insert(parts, d.name)
      return parts
    else
      break
    end
  end
  if #parts == 0 then return nil end
  return parts
end

local function indent_of(line)
  return #line:match('^%s*'):gsub('\t', '        ')
end

local function parse_def(line)
  local ind, name = line:match('^(%s*)async%s+def%s+([%w_]+)')
  if name then return 'def', name, #ind:gsub('\t', '        ') end
  ind, name = line:match('^(%s*)def%s+([%w_]+)')
  if name then return 'def', name, #ind:gsub('\t', '        ') end
  ind, name = line:match('^(%s*)class%s+([%w_]+)')
  if name then return 'class', name, #ind:gsub('\t', '        ') end
  return nil
end

local function blank(line)
  return line:match('^%s*$') ~= nil or line:match('^%s*#') ~= nil
end

-- A line continuing an open bracket / backslash of the previous code line: its indentation
-- says nothing about blocks.
local function continuation(lines, i)
  for j = i - 1, 1, -1 do
    if not blank(lines[j]) then
      return lines[j]:match('[%(%[{,\\]%s*$') ~= nil
    end
  end
  return false
end

-- Enclosing definitions of line `row` (1-based) by indentation, outermost first.
function M.chain_by_indent(lines, row)
  -- On a decorator line: the definition it decorates is below.
  if lines[row] and lines[row]:match('^%s*@') then
    local dind = indent_of(lines[row])
    for j = row + 1, #lines do
      local l = lines[j]
      if not blank(l) and indent_of(l) <= dind and not l:match('^%s*@') then
        if parse_def(l) then row = j end
        break
      end
    end
  end
  local chain = {}
  local limit = math.huge
  for i = row, 1, -1 do
    local l = lines[i]
    if not blank(l) and not continuation(lines, i) then
      local ind = indent_of(l)
      local kind, name = parse_def(l)
      if kind and (i == row or ind < limit) then
        table.insert(chain, 1, { kind = kind, name = name, row = i })
        limit = ind
      elseif ind < limit and not l:match('^%s*@') and not l:match('^%s*[%)%]}]') then
        limit = ind
      end
      if limit == 0 then break end
    end
  end
  return chain
end

-- Nearest test definition above `row` (when the cursor is between tests), outermost first.
local function chain_above(lines, row)
  for i = row, 1, -1 do
    local kind, name = parse_def(lines[i])
    if kind and ((kind == 'def' and is_test_func(name)) or (kind == 'class' and is_test_class(name))) then
      local chain = M.chain_by_indent(lines, i)
      if M.parts_from_chain(chain) then return chain end
    end
  end
  return {}
end

-- Tree-sitter chain, or nil when no Python parser is available.
local function chain_by_treesitter(bufnr, row, col)
  local ok, parser = pcall(vim.treesitter.get_parser, bufnr, 'python')
  if not ok or not parser then return nil end
  local tok, trees = pcall(function() return parser:parse() end)
  if not tok or not trees or not trees[1] then return nil end
  local root = trees[1]:root()
  local node = root:named_descendant_for_range(row - 1, col, row - 1, col)
  local chain = {}
  while node do
    local t = node:type()
    if t == 'function_definition' or t == 'class_definition' then
      local name_node = node:field('name')[1]
      if name_node then
        local name = vim.treesitter.get_node_text and vim.treesitter.get_node_text(name_node, bufnr)
          or vim.treesitter.query.get_node_text(name_node, bufnr)
        table.insert(chain, 1, { kind = t == 'class_definition' and 'class' or 'def', name = name })
      end
    end
    node = node:parent()
  end
  return chain
end

-- Node id ("path::Class::test") for the cursor in `bufnr`, the path relative to directory
-- `root` when the file is inside it (else absolute).
-- Returns nodeid, or the file path alone with `false` when no test encloses the cursor.
function M.nodeid(bufnr, root, pos)
  bufnr = bufnr or 0
  pos = pos or vim.api.nvim_win_get_cursor(0)
  local file = util.abspath(vim.api.nvim_buf_get_name(bufnr))
  local rel = util.relpath(file, root)
  local lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  local chain = chain_by_treesitter(bufnr, pos[1], pos[2])
  local parts = chain and M.parts_from_chain(chain)
  if not parts then
    chain = M.chain_by_indent(lines, pos[1])
    parts = M.parts_from_chain(chain)
  end
  if not parts then
    parts = M.parts_from_chain(chain_above(lines, pos[1]))
  end
  if not parts then return rel, false end
  return rel .. '::' .. table.concat(parts, '::'), true
end

return M
