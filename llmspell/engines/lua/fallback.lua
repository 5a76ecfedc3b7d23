-- A pure-Lua port of Lua 5.4's pattern matcher (``lstrlib.c``), used for costly matches.
--
-- C pattern matching cannot be interrupted by the CPU hook: a pathological pattern such as
-- ``string.rep("a", 3e5):find(".-.-.-.-.-b")`` would block the event loop for hours. The prelude
-- estimates each call's worst case and, above its budget, runs the call here instead. This port
-- has the same semantics (classes in the C locale, captures, position captures, ``%b``, ``%f``,
-- back-references, anchors, ``gsub`` replacement strings/tables/functions, the 5.4 rule that an
-- empty match right after the previous match is skipped) but is ordinary Lua, so the count hook
-- fires and the spell's CPU limit stops it. It is compiled lazily, only by spells that need it.

local s_byte, s_sub, s_find, s_format, t_concat, t_unpack = ...
local tostring, type, error, pcall = tostring, type, error, pcall

local MAXCAPTURES, MAXCCALLS = 32, 200
local CAP_UNFINISHED, CAP_POSITION = -1, -2
local ESC = 37
local MARK = {}

local function throw(msg, ...)
  error({MARK, s_format(msg, ...)}, 0)
end

local function done(ok, ...)
  if ok then return ... end
  local e = ...
  if type(e) == "table" and e[1] == MARK then error(e[2], 2) end
  error(e, 0)
end

-- character classes in the C locale
local function isalpha(c) return (c >= 65 and c <= 90) or (c >= 97 and c <= 122) end
local function isdigit(c) return c >= 48 and c <= 57 end
local classes = {
  [97] = isalpha,
  [99] = function(c) return c < 32 or c == 127 end,
  [100] = isdigit,
  [103] = function(c) return c >= 33 and c <= 126 end,
  [108] = function(c) return c >= 97 and c <= 122 end,
  [112] = function(c)
    return (c >= 33 and c <= 47) or (c >= 58 and c <= 64) or (c >= 91 and c <= 96)
      or (c >= 123 and c <= 126)
  end,
  [115] = function(c) return c == 32 or (c >= 9 and c <= 13) end,
  [117] = function(c) return c >= 65 and c <= 90 end,
  [119] = function(c) return isalpha(c) or isdigit(c) end,
  [120] = function(c) return isdigit(c) or (c >= 97 and c <= 102) or (c >= 65 and c <= 70) end,
  [122] = function(c) return c == 0 end,  -- %z, deprecated but still in 5.4
}

local function match_class(c, cl)
  local f = classes[(cl >= 65 and cl <= 90) and cl + 32 or cl]
  if not f then return cl == c end
  if cl >= 65 and cl <= 90 then return not f(c) end
  return f(c)
end

local function class_end(ms, pi)
  local p, lp = ms.p, ms.plen
  local c = s_byte(p, pi)
  pi = pi + 1
  if c == ESC then
    if pi > lp then throw("malformed pattern (ends with '%%')") end
    return pi + 1
  elseif c == 91 then
    if s_byte(p, pi) == 94 then pi = pi + 1 end
    repeat
      if pi > lp then throw("malformed pattern (missing ']')") end
      local cc = s_byte(p, pi)
      pi = pi + 1
      if cc == ESC and pi <= lp then pi = pi + 1 end
    until s_byte(p, pi) == 93
    return pi + 1
  end
  return pi
end

-- pi: index of '['; ec: index of the closing ']'
local function match_bracket(ms, c, pi, ec)
  local p = ms.p
  local sig = true
  if s_byte(p, pi + 1) == 94 then sig = false; pi = pi + 1 end
  while true do
    pi = pi + 1
    if pi >= ec then break end
    local pc = s_byte(p, pi)
    if pc == ESC then
      pi = pi + 1
      if match_class(c, s_byte(p, pi)) then return sig end
    elseif s_byte(p, pi + 1) == 45 and pi + 2 < ec then
      pi = pi + 2
      if pc <= c and c <= s_byte(p, pi) then return sig end
    elseif pc == c then
      return sig
    end
  end
  return not sig
end

local function single_match(ms, s, pi, ep)
  if s > ms.len then return false end
  local c, pc = s_byte(ms.src, s), s_byte(ms.p, pi)
  if pc == 46 then return true
  elseif pc == ESC then return match_class(c, s_byte(ms.p, pi + 1))
  elseif pc == 91 then return match_bracket(ms, c, pi, ep - 1)
  end
  return pc == c
end

local match

local function match_balance(ms, s, pi)
  if pi >= ms.plen then throw("malformed pattern (missing arguments to '%%b')") end
  local src = ms.src
  if s > ms.len or s_byte(src, s) ~= s_byte(ms.p, pi) then return nil end
  local b, e = s_byte(ms.p, pi, pi + 1)
  local cont = 1
  s = s + 1
  while s <= ms.len do
    local c = s_byte(src, s)
    if c == e then
      cont = cont - 1
      if cont == 0 then return s + 1 end
    elseif c == b then
      cont = cont + 1
    end
    s = s + 1
  end
  return nil
end

local function max_expand(ms, s, pi, ep)
  local i = 0
  while single_match(ms, s + i, pi, ep) do i = i + 1 end
  while i >= 0 do
    local res = match(ms, s + i, ep + 1)
    if res then return res end
    i = i - 1
  end
  return nil
end

local function min_expand(ms, s, pi, ep)
  while true do
    local res = match(ms, s, ep + 1)
    if res then return res end
    if not single_match(ms, s, pi, ep) then return nil end
    s = s + 1
  end
end

local function start_capture(ms, s, pi, what)
  local level = ms.level
  if level >= MAXCAPTURES then throw("too many captures") end
  ms.cinit[level + 1], ms.clen[level + 1] = s, what
  ms.level = level + 1
  local res = match(ms, s, pi)
  if not res then ms.level = ms.level - 1 end
  return res
end

local function end_capture(ms, s, pi)
  local l = ms.level
  while l >= 1 and ms.clen[l] ~= CAP_UNFINISHED do l = l - 1 end
  if l < 1 then throw("invalid pattern capture") end
  ms.clen[l] = s - ms.cinit[l]
  local res = match(ms, s, pi)
  if not res then ms.clen[l] = CAP_UNFINISHED end
  return res
end

local function match_capture(ms, s, digit)
  local l = digit - 48
  if l < 1 or l > ms.level or ms.clen[l] == CAP_UNFINISHED then
    throw("invalid capture index %%%d", l)
  end
  local len, init = ms.clen[l], ms.cinit[l]
  if len < 0 or ms.len - s + 1 < len then return nil end
  if s_sub(ms.src, init, init + len - 1) == s_sub(ms.src, s, s + len - 1) then return s + len end
  return nil
end

match = function(ms, s, pi)
  local depth = ms.depth
  if depth == 0 then throw("pattern too complex") end
  ms.depth = depth - 1
  local p, plen = ms.p, ms.plen
  while pi <= plen do
    local pc = s_byte(p, pi)
    local nc = s_byte(p, pi + 1)
    if pc == 40 then
      if nc == 41 then s = start_capture(ms, s, pi + 2, CAP_POSITION)
      else s = start_capture(ms, s, pi + 1, CAP_UNFINISHED) end
      break
    elseif pc == 41 then
      s = end_capture(ms, s, pi + 1)
      break
    elseif pc == 36 and pi == plen then
      if s ~= ms.len + 1 then s = nil end
      break
    elseif pc == ESC and nc == 98 then
      s = match_balance(ms, s, pi + 2)
      if not s then break end
      pi = pi + 4
    elseif pc == ESC and nc == 102 then
      pi = pi + 2
      if s_byte(p, pi) ~= 91 then throw("missing '[' after '%%f' in pattern") end
      local ep = class_end(ms, pi)
      local prev = s == 1 and 0 or s_byte(ms.src, s - 1)
      local cur = s <= ms.len and s_byte(ms.src, s) or 0
      if match_bracket(ms, prev, pi, ep - 1) or not match_bracket(ms, cur, pi, ep - 1) then
        s = nil
        break
      end
      pi = ep
    elseif pc == ESC and nc and nc >= 48 and nc <= 57 then
      s = match_capture(ms, s, nc)
      if not s then break end
      pi = pi + 2
    else
      local ep = class_end(ms, pi)
      local q = s_byte(p, ep)
      if not single_match(ms, s, pi, ep) then
        if q == 42 or q == 63 or q == 45 then
          pi = ep + 1
        else
          s = nil
          break
        end
      elseif q == 63 then
        local res = match(ms, s + 1, ep + 1)
        if res then s = res; break end
        pi = ep + 1
      elseif q == 43 then
        s = max_expand(ms, s + 1, pi, ep)
        break
      elseif q == 42 then
        s = max_expand(ms, s, pi, ep)
        break
      elseif q == 45 then
        s = min_expand(ms, s, pi, ep)
        break
      else
        s, pi = s + 1, ep
      end
    end
  end
  ms.depth = ms.depth + 1
  return s
end

local function state(src, p)
  return {src = src, len = #src, p = p, plen = #p, level = 0, depth = MAXCCALLS,
          cinit = {}, clen = {}}
end

local function reset(ms)
  ms.level, ms.depth = 0, MAXCCALLS
end

-- capture i (0-based) of the match s..e-1
local function get_capture(ms, i, s, e)
  if i >= ms.level then
    if i ~= 0 then throw("invalid capture index %%%d", i + 1) end
    return s_sub(ms.src, s, e - 1)
  end
  local l, init = ms.clen[i + 1], ms.cinit[i + 1]
  if l == CAP_UNFINISHED then throw("unfinished capture") end
  if l == CAP_POSITION then return init end
  return s_sub(ms.src, init, init + l - 1)
end

local function captures(ms, s, e)
  local n = (ms.level == 0 and s) and 1 or ms.level
  local caps = {}
  for i = 1, n do caps[i] = get_capture(ms, i - 1, s, e) end
  return t_unpack(caps, 1, n)
end

local function posrelat(pos, len)
  if pos > 0 then return pos
  elseif pos == 0 then return 1
  elseif pos < -len then return 1
  end
  return len + pos + 1
end

local function find_aux(s, p, init, find)
  local ls = #s
  init = posrelat(init or 1, ls)
  if init > ls + 1 then return nil end
  local anchor = s_byte(p, 1) == 94
  if anchor then p = s_sub(p, 2) end
  local ms = state(s, p)
  local s1 = init
  repeat
    reset(ms)
    local e = match(ms, s1, 1)
    if e then
      if find then return s1, e - 1, captures(ms, nil, 0) end
      return captures(ms, s1, e)
    end
    s1 = s1 + 1
  until anchor or s1 > ls + 1
  return nil
end

local M = {}

function M.find(s, p, init, plain)
  if plain or not s_find(p, "[%^%$%*%+%?%.%(%[%%%-]") then
    return s_find(s, p, init, true)  -- plain search, as C does (the prelude chunks big ones)
  end
  return done(pcall(find_aux, s, p, init, true))
end

function M.match(s, p, init)
  return done(pcall(find_aux, s, p, init, false))
end

function M.gmatch(s, p, init)
  local ls = #s
  local src = posrelat(init or 1, ls)
  if src > ls + 1 then src = ls + 2 end
  local ms = state(s, p)
  local lastmatch
  local function step()
    while src <= ls + 1 do
      reset(ms)
      local e = match(ms, src, 1)
      if e and e ~= lastmatch then
        local start = src
        src, lastmatch = e, e
        return captures(ms, start, e)
      end
      src = src + 1
    end
    return nil
  end
  return function() return done(pcall(step)) end
end

local function add_string(ms, buf, nb, news, s, e)
  local i = 1
  while true do
    local j = s_find(news, "%", i, true)
    if not j then break end
    nb = nb + 1
    buf[nb] = s_sub(news, i, j - 1)
    local d = s_byte(news, j + 1)
    nb = nb + 1
    if d == ESC then
      buf[nb] = "%"
    elseif d == 48 then
      buf[nb] = s_sub(ms.src, s, e - 1)
    elseif d and d >= 49 and d <= 57 then
      buf[nb] = tostring(get_capture(ms, d - 49, s, e))
    else
      throw("invalid use of '%%' in replacement string")
    end
    i = j + 2
  end
  nb = nb + 1
  buf[nb] = s_sub(news, i)
  return nb
end

local function gsub_aux(src, p, repl, max_s)
  local srcl, tr = #src, type(repl)
  if tr == "number" then repl, tr = tostring(repl), "string" end
  max_s = max_s or srcl + 1
  local anchor = s_byte(p, 1) == 94
  if anchor then p = s_sub(p, 2) end
  local ms = state(src, p)
  local buf, nb = {}, 0
  local s, copied, lastmatch, n, changed = 1, 1, nil, 0, false
  while n < max_s do
    reset(ms)
    local e = match(ms, s, 1)
    if e and e ~= lastmatch then
      n = n + 1
      if s > copied then
        nb = nb + 1
        buf[nb] = s_sub(src, copied, s - 1)
      end
      if tr == "string" then
        nb = add_string(ms, buf, nb, repl, s, e)
        changed = true
      else
        local v
        if tr == "function" then v = repl(captures(ms, s, e))
        else v = repl[get_capture(ms, 0, s, e)] end
        nb = nb + 1
        if not v then
          buf[nb] = s_sub(src, s, e - 1)
        elseif type(v) == "string" or type(v) == "number" then
          buf[nb] = tostring(v)
          changed = true
        else
          throw("invalid replacement value (a %s)", type(v))
        end
      end
      s, lastmatch, copied = e, e, e
    elseif s <= srcl then
      s = s + 1
    else
      break
    end
    if anchor then break end
  end
  if not changed then return src, n end
  nb = nb + 1
  buf[nb] = s_sub(src, copied)
  return t_concat(buf, "", 1, nb), n
end

function M.gsub(s, p, repl, max_s)
  return done(pcall(gsub_aux, s, p, repl, max_s))
end

return M
