-- pytest.util: small shared helpers: notifications, paths, argument splitting/quoting and
-- human-readable sizes. Nothing here blocks or talks to the co-process. The project root and
-- the interpreter are the co-process's to decide (src/project.c; the `resolve` request).
local M = {}

local uv = vim.loop

-- Every runtime message goes through here: one line, prefixed, titled "pytest".
function M.notify(msg, level)
  vim.notify('pytest: ' .. msg, level or vim.log.levels.INFO, { title = 'pytest' })
end

function M.is_file(path)
  local st = path and uv.fs_stat(path)
  return st ~= nil and st.type == 'file'
end

function M.is_dir(path)
  local st = path and uv.fs_stat(path)
  return st ~= nil and st.type == 'directory'
end

function M.dirname(path)
  if path == '/' then return '/' end
  local d = path:gsub('/+$', ''):match('^(.*)/[^/]*$')
  if d == nil then return '.' end
  if d == '' then return '/' end
  return d
end

function M.join(a, b)
  if b:sub(1, 1) == '/' then return b end
  if a:sub(-1) == '/' then return a .. b end
  return a .. '/' .. b
end

function M.abspath(path)
  return vim.fn.fnamemodify(path, ':p')
end

-- Path of `path` relative to directory `base` when it is inside it; else `path` unchanged.
function M.relpath(path, base)
  base = base:gsub('/+$', '')
  if path:sub(1, #base + 1) == base .. '/' then return path:sub(#base + 2) end
  return path
end

-- Split a command line like a POSIX shell word splitter: whitespace separates, '...' and
-- "..." group, backslash escapes. Returns a list of strings.
function M.split_args(s)
  local out, cur, have = {}, {}, false
  local i, n = 1, #s
  local quote = nil
  while i <= n do
    local c = s:sub(i, i)
    if quote == "'" then
      if c == "'" then quote = nil else table.insert(cur, c) end
    elseif quote == '"' then
      if c == '"' then
        quote = nil
      elseif c == '\\' and i < n and s:sub(i + 1, i + 1):match('["\\$`]') then
        i = i + 1
        table.insert(cur, s:sub(i, i))
      else
        table.insert(cur, c)
      end
    elseif c == "'" or c == '"' then
      quote, have = c, true
    elseif c == '\\' and i < n then
      i = i + 1
      table.insert(cur, s:sub(i, i))
      have = true
    elseif c:match('%s') then
      if have then table.insert(out, table.concat(cur)) end
      cur, have = {}, false
    else
      table.insert(cur, c)
      have = true
    end
    i = i + 1
  end
  if have then table.insert(out, table.concat(cur)) end
  return out
end

-- Join arguments for display, quoting those a shell would split.
function M.join_args(args)
  local parts = {}
  for _, a in ipairs(args or {}) do
    if a == '' or a:find('[%s\'"\\$`*?%[%]|&;<>()#!]') then
      a = "'" .. a:gsub("'", "'\\''") .. "'"
    end
    table.insert(parts, a)
  end
  return table.concat(parts, ' ')
end

-- 1536 -> "1.5K", 3221225472 -> "3.0G"; nil/negative -> "?".
function M.bytes(n)
  if type(n) ~= 'number' or n < 0 then return '?' end
  local units = { 'B', 'K', 'M', 'G', 'T' }
  local i = 1
  while n >= 1024 and i < #units do
    n = n / 1024
    i = i + 1
  end
  if i == 1 then return string.format('%dB', n) end
  if n >= 100 then return string.format('%d%s', math.floor(n + 0.5), units[i]) end
  return string.format('%.1f%s', n, units[i])
end

-- msgpack nil inside lists arrives as vim.NIL; treat it as absent.
function M.val(v)
  if v == vim.NIL then return nil end
  return v
end

function M.list(v)
  if type(v) ~= 'table' then return {} end
  return v
end

-- A map for msgpack: an empty Lua table would be sent as an array.
function M.map(t)
  if t == nil or next(t) == nil then return vim.empty_dict() end
  return t
end

-- Fire `User <pattern>`; on 0.8+ the payload rides along as autocmd `data`.
function M.fire(pattern, data)
  local opts = { pattern = pattern, modeline = false }
  if vim.fn.has('nvim-0.8') == 1 then opts.data = data end
  local ok, err = pcall(vim.api.nvim_exec_autocmds, 'User', opts)
  if not ok then M.notify(string.format('User %s autocmd failed: %s', pattern, err), vim.log.levels.ERROR) end
end

-- Open (or reuse) a scratch buffer named `name` in a split and fill it with `lines`.
-- Returns the buffer number.
function M.scratch(name, lines, filetype)
  local bufnr = vim.fn.bufnr('^' .. vim.fn.escape(name, '\\/.*$^~[]') .. '$')
  if bufnr == -1 or not vim.api.nvim_buf_is_valid(bufnr) then
    bufnr = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(bufnr, name)
  end
  local win = vim.fn.bufwinid(bufnr)
  if win == -1 then
    vim.cmd('botright split')
    vim.api.nvim_win_set_buf(0, bufnr)
  else
    vim.api.nvim_set_current_win(win)
  end
  local bo = vim.bo[bufnr]
  bo.buftype = 'nofile'
  bo.bufhidden = 'hide'
  bo.swapfile = false
  bo.modifiable = true
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  bo.modifiable = false
  bo.modified = false
  if filetype then bo.filetype = filetype end
  vim.api.nvim_buf_set_keymap(bufnr, 'n', 'q', '<Cmd>silent! close<CR>', { noremap = true, silent = true, nowait = true })
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  return bufnr
end

return M
