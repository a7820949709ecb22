-- pytest.util: small shared helpers: notifications, paths, argument splitting/quoting and
-- human-readable sizes. Nothing here blocks or talks to the co-process. The project root and
-- the interpreter are the co-process's to decide (src/pytest/project.c; the `resolve` request).
local M = {}

local uv = vim.uv or vim.loop -- vim.loop: before 0.10

-- Text the user sees comes from pytest and the tests: it may hold terminal control sequences
-- (a test message can set the window title, write the clipboard with OSC 52, ...). The
-- co-process cleans what it sends; this is the defence in depth on the Lua side.
--
-- Bytes that start something to remove: C0 controls but TAB (LF too unless kept), DEL, the
-- UTF-8 lead byte of the C1 controls U+0080..U+009F, and those of the bidi controls (0xD8:
-- U+061C; 0xE2: U+200E/F, U+202A..E, U+2066..9), which reorder what is shown around them.
local SPECIAL = '[%z\1-\8\10-\31\127\194\216\226]'
local SPECIAL_KEEP_LF = '[%z\1-\8\11-\31\127\194\216\226]'
local CONTROLS = '[%z\1-\8\10-\31\127\194]'
-- ESC + one of these (or their C1 form) opens a control string ended by ST, BEL (OSC), CAN,
-- SUB or the next ESC: OSC ], DCS P, SOS X, PM ^, APC _.
local STRING_INTRO = { [0x5D] = true, [0x50] = true, [0x58] = true, [0x5E] = true, [0x5F] = true }
local byte = string.byte

-- At byte j of s, a 0xD8 or 0xE2 lead byte: the length of the bidi control it starts (to
-- remove), 0 for a valid other character (to keep), or 1 for a lead byte that starts no valid
-- character (removed: it must never meet continuation bytes that follow something removed and
-- make a bidi control).
local function lead_at(s, j)
  local b, c, d = byte(s, j, j + 2)
  if not c or c < 0x80 or c > 0xBF then return 1 end
  if b == 0xD8 then return c == 0x9C and 2 or 0 end
  if not d or d < 0x80 or d > 0xBF then return 1 end
  if (c == 0x80 and (d == 0x8E or d == 0x8F or (d >= 0xAA and d <= 0xAE))) or (c == 0x81 and d >= 0xA6 and d <= 0xA9) then
    return 3
  end
  return 0
end

-- Skips a control string starting at byte k; returns the index after it.
local function skip_string(s, k)
  while true do
    local j = s:find('[\7\24\26\27\194]', k)
    if not j then return #s + 1 end
    local b = s:byte(j)
    if b == 27 then
      if s:byte(j + 1) == 0x5C then return j + 2 end -- ST
      return j -- another sequence starts: the string ends unterminated
    elseif b == 194 then
      if s:byte(j + 1) == 0x9C then return j + 2 end -- C1 ST
      k = j + 1
    else
      return j + 1 -- BEL ends an OSC; CAN and SUB abort any
    end
  end
end

-- Skips the rest of an escape sequence whose introducer (ESC's next byte, or C1 - 0x40) is
-- `c`, starting at byte k; returns the index after it, and a CSI's parameters and final byte.
local function skip_sequence(s, c, k)
  if c == 0x5B then -- CSI: parameters 0x30-0x3F, intermediates 0x20-0x2F, final 0x40-0x7E
    local e = k
    while true do
      local b = s:byte(e)
      if b == nil then return e end
      if b >= 0x40 and b <= 0x7E then return e + 1, s:sub(k, e - 1), b end
      if b < 0x20 or b > 0x3F then return e end -- broken: resume at that byte
      e = e + 1
    end
  elseif STRING_INTRO[c] then
    return skip_string(s, k)
  elseif c >= 0x20 and c <= 0x2F then -- nF: intermediates, then a final 0x30-0x7E
    local e = k
    while s:byte(e) and s:byte(e) >= 0x20 and s:byte(e) <= 0x2F do e = e + 1 end
    local b = s:byte(e)
    if b and b >= 0x30 and b <= 0x7E then return e + 1 end
    return e
  end
  return k -- a single-character sequence (ESC 7, ESC c, ...): already consumed
end

-- `s` without escape sequences (CSI, OSC, DCS, SOS, PM, APC, single-character; 7-bit and C1
-- forms; terminated, split off or unterminated), without any other C0 control but TAB, nor
-- DEL, C1 controls or bidi controls. keep_lf: keep line feeds (multi-line text). sgr: a list
-- that gets { byte offset in the result, parameters } of every SGR sequence (CSI ... m) removed.
function M.clean(s, keep_lf, sgr)
  if type(s) ~= 'string' then s = tostring(s == nil and '' or s) end
  local pat = keep_lf and SPECIAL_KEEP_LF or SPECIAL
  if not s:find(pat) then return s end
  -- i: where the text to keep goes on; from: where the next special byte is looked for
  local out, len, i, from, n = {}, 0, 1, 1, #s
  while i <= n do
    local j = s:find(pat, from)
    if not j then
      table.insert(out, s:sub(i))
      break
    end
    local b, c = s:byte(j), s:byte(j + 1)
    local skip = nil
    if b == 0xD8 or b == 0xE2 then
      local k = lead_at(s, j)
      if k > 0 then skip = j + k end
    else
      skip = j + 1
    end
    if skip == nil then -- a character to keep
      from = j + 1
    else
      if j > i then
        table.insert(out, s:sub(i, j - 1))
        len = len + j - i
      end
      local params, final
      if b == 27 then
        if c == nil then
          skip = j + 1
        elseif c >= 0x20 and c <= 0x7E then
          skip, params, final = skip_sequence(s, c, j + 2)
        end -- else a lone ESC
      elseif b == 194 then
        if c and c >= 0x80 and c <= 0x9F then
          skip, params, final = skip_sequence(s, c - 0x40, j + 2)
        elseif c and c >= 0xA0 and c <= 0xBF then -- U+00A0..U+00BF
          table.insert(out, s:sub(j, j + 1))
          len = len + 2
          skip = j + 2
        end -- else a lone lead byte: never let it meet a 0x80-0x9F after a removed sequence
      end
      i, from = skip, skip
      if final == 0x6D and sgr then table.insert(sgr, { len, params }) end
    end
  end
  return table.concat(out)
end

-- True when clean(s) would return s unchanged (no control character, DEL, C1 lead byte, bidi
-- control). One scan: cheaper than clean() on each of thousands of strings when, as nearly
-- always, the co-process has cleaned them already (run it on their concatenation). Under
-- LuaJIT a byte loop, which is compiled: the pattern below is interpreted, ~20 ns a byte (12 ms
-- for the 600 KB of texts of 5,000 failures); with PUC Lua the pattern is the faster.
function M.is_clean(s)
  if not jit then
    if s:find(CONTROLS) then return false end
    local j = s:find('[\216\226]')
    while j do
      if lead_at(s, j) > 0 then return false end
      j = s:find('[\216\226]', j + 1)
    end
    return true
  end
  for i = 1, #s do
    local b = byte(s, i)
    if (b < 32 and b ~= 9) or b == 127 or b == 194 then return false end
    if (b == 0xD8 or b == 0xE2) and lead_at(s, i) > 0 then return false end
  end
  return true
end

-- The most bytes of a node id where it is shown (quickfix text, the tree's lines, messages):
-- the co-process's cap of a message (TEXTCLEAN_MESSAGE_MAX). The id itself stays whole where it
-- names the test (selecting, rerunning it).
M.id_max = 4096

-- Node id (or part of one) `s` as text to show: clean(), at most id_max bytes, cut at a
-- character boundary with " [... cut: N bytes in all]" as the co-process cuts a message.
function M.id_text(s)
  s = M.clean(s)
  if #s <= M.id_max then return s end
  local e = M.id_max
  while e > 0 do -- back to a character's first byte
    local b = byte(s, e + 1)
    if not b or b < 0x80 or b >= 0xC0 then break end
    e = e - 1
  end
  return s:sub(1, e) .. string.format(' [... cut: %d bytes in all]', #s)
end

-- Whether vim.notify is Neovim's own, which echoes: a message of several lines, or wider than
-- the echo area, stops the editor at a hit-enter prompt. A user's own (nvim-notify, fidget,
-- noice) shows any text.
function M.builtin_notify()
  local ok, info = pcall(debug.getinfo, vim.notify, 'S')
  local src = ok and type(info) == 'table' and info.source or ''
  -- 0.7-0.11 load it from vim/_editor.lua; 0.12 from bytecode built into nvim, whose source
  -- is "?" (a plugin's vim.notify always has a file or a string for its source).
  return src == '?' or src:find('^@vim/_[%w_/]*editor%.lua$') ~= nil
end

-- `text` as one line that fits the echo area: its lines joined with " | ", cut with '…'.
function M.echo_line(text)
  local parts = {}
  for l in tostring(text):gmatch('[^\n]+') do
    l = l:gsub('^%s+', ''):gsub('%s+$', '')
    if l ~= '' then parts[#parts + 1] = l end
  end
  local line = table.concat(parts, ' | ')
  local room = math.max((tonumber(vim.v.echospace) or 80) - 1, 10)
  if vim.fn.strdisplaywidth(line) <= room then return line end
  local n = room - 1
  local cut = vim.fn.strcharpart(line, 0, n)
  while n > 0 and vim.fn.strdisplaywidth(cut) > room - 1 do
    n = n - 1
    cut = vim.fn.strcharpart(line, 0, n)
  end
  return cut .. '…'
end

-- Every runtime message goes through here: prefixed, titled "pytest". No notification may stop
-- the editor at a prompt: with Neovim's own vim.notify (it echoes) the message is one line cut
-- to the echo area (what a run says in full is in the quickfix title and :PytestOutput, a
-- debug session's in pytest://debug); a user's own vim.notify gets it whole.
function M.notify(msg, level)
  local text = M.clean('pytest: ' .. tostring(msg), true)
  if M.builtin_notify() then text = M.echo_line(text) end
  vim.notify(text, level or vim.log.levels.INFO, { title = 'pytest' })
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

-- Whether two absolute paths name one file: the same text, else the same real path (a root
-- reached through a symbolic link). The one "same file" question of the editor's side, as
-- path_same_file() is the co-process's. `cache` (a table, optional) keeps the answers per pair:
-- a list of thousands of failures names the same few files.
function M.same_file(a, b, cache)
  if a == b then return true end
  if type(a) ~= 'string' or type(b) ~= 'string' then return false end
  local key = a .. '\0' .. b
  local v = cache and cache[key]
  if v == nil then
    local ra, rb = uv.fs_realpath(a), uv.fs_realpath(b)
    v = ra ~= nil and ra == rb
    if cache then cache[key] = v end
  end
  return v
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

-- Highlights columns [col_start, col_end) of 0-based `line` in `buf` with `group` (col_end -1
-- or nil: to the end of the line), in namespace `ns`: what nvim_buf_add_highlight() did, which
-- Neovim 0.11 deprecated, as an extmark (Neovim 0.7 has them). Columns past the end are cut.
function M.highlight(buf, ns, group, line, col_start, col_end)
  local opts = { hl_group = group, strict = false }
  if col_end == nil or col_end < 0 then
    opts.end_row, opts.end_col = line + 1, 0
  else
    opts.end_row, opts.end_col = line, col_end
  end
  return vim.api.nvim_buf_set_extmark(buf, ns, line, col_start or 0, opts)
end

-- Open (or reuse) a scratch buffer named `name` in a split and fill it with `lines`.
-- opts: keep_focus (the cursor stays in the current window, whose split is as high as the
-- lines take, wrapped, at most `max_height`), wrap. Returns the buffer number.
function M.scratch(name, lines, filetype, opts)
  opts = opts or {}
  local from = vim.api.nvim_get_current_win()
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
  if opts.wrap ~= nil then vim.wo.wrap = opts.wrap end
  if opts.keep_focus then -- as high as the lines take (wrapped), within max_height
    local cols, rows = math.max(vim.api.nvim_win_get_width(0), 1), 0
    for _, l in ipairs(lines) do
      rows = rows + (vim.wo.wrap and math.max(1, math.ceil(vim.fn.strdisplaywidth(M.clean(l)) / cols)) or 1)
    end
    pcall(vim.api.nvim_win_set_height, 0, math.max(1, math.min(rows, opts.max_height or 10)))
  end
  local bo = vim.bo[bufnr]
  bo.buftype = 'nofile'
  bo.bufhidden = 'hide'
  bo.swapfile = false
  bo.modifiable = true
  -- Any bytes may come in (a log with NUL, which readfile() turns into NL, or ESC): set_lines
  -- rejects a NL inside a line, and controls do not belong in a view.
  local clean = {}
  for i, l in ipairs(lines) do clean[i] = M.clean(l) end
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, clean)
  bo.modifiable = false
  bo.modified = false
  if filetype then bo.filetype = filetype end
  vim.api.nvim_buf_set_keymap(bufnr, 'n', 'q', '<Cmd>silent! close<CR>', { noremap = true, silent = true, nowait = true })
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  if opts.keep_focus and vim.api.nvim_win_is_valid(from) then vim.api.nvim_set_current_win(from) end
  return bufnr
end

-- Highlights bytes [col, end_col) of line `row` (0-based) of `buf`, whose text is `text`, with
-- `group` in namespace `ns`; an end_col of -1 (or past the text) is the line's end. An extmark
-- (since 0.5): nvim_buf_add_highlight is deprecated since 0.11. One options table, reused (the
-- summary sets tens of thousands: a third of the time).
local hl_opts = { end_row = 0, end_col = 0, hl_group = '' }
function M.highlight(buf, ns, group, row, col, end_col, text)
  local len = #text
  if end_col < 0 or end_col > len then end_col = len end
  if col >= end_col then return end
  hl_opts.end_row, hl_opts.end_col, hl_opts.hl_group = row, end_col, group
  vim.api.nvim_buf_set_extmark(buf, ns, row, col, hl_opts)
end

-- {name = bufnr} of the loaded buffers that have a name (the files the editor shows).
function M.loaded_buffers()
  local map = {}
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) then
      local name = vim.api.nvim_buf_get_name(b)
      if name ~= '' then map[name] = b end
    end
  end
  return map
end

return M
