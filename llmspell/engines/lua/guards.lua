-- Guarded string and table functions, loaded by a spell's first use of one of them.
--
-- C pattern matching and a few table functions could run long in C, out of reach of the CPU hook:
-- see prelude.lua for how this chunk is loaded and what it receives.

local trip, load_chunk, BUDGET, MAX_STRING, s_find, s_match, s_gmatch, s_gsub, s_rep,
  s_byte, s_sub, s_format, t_concat, t_sort, t_move, t_unpack = ...
local type, tostring, rawlen, load = type, tostring, rawlen, load
local math_type, tointeger, floor = math.type, math.tointeger, math.floor

-- guarded string functions -----------------------------------------------------------------
-- C pattern matching cannot be interrupted. Each call's worst case is estimated from the
-- subject length and the pattern's backtracking items; above BUDGET steps the call runs in a
-- pure-Lua port of the matcher instead, which the CPU hook can stop.
local SPECIALS = "[%^%$%*%+%?%.%(%[%%%-]"
local models = {[true] = {}, [false] = {}}
local nmodels = 0

local function class_end(p, i, lp)
  local c = s_byte(p, i)
  i = i + 1
  if c == 37 then
    if i > lp then return nil end
    return i + 1
  elseif c == 91 then
    if s_byte(p, i) == 94 then i = i + 1 end
    repeat
      if i > lp then return nil end
      local cc = s_byte(p, i)
      i = i + 1
      if cc == 37 and i <= lp then i = i + 1 end
    until s_byte(p, i) == 93
    return i + 1
  end
  return i
end

-- {anchored, backtracking items, 2^optional items * items, has %b or back-reference}
local function model(p, anchor_ok)
  local lp, i = #p, 1
  local anchored = false
  if anchor_ok and s_byte(p, 1) == 94 then anchored, i = true, 2 end
  local mult, opt, items, leaf, trailing = 0, 0, 0, false, false
  while i <= lp do
    local c, d = s_byte(p, i, i + 1)
    if c == 40 then
      i = i + (d == 41 and 2 or 1)
    elseif c == 41 then
      i = i + 1
    elseif c == 36 and i == lp then
      i, trailing = i + 1, false
    elseif c == 37 and d == 98 then
      i, items, leaf, trailing = i + 4, items + 1, true, false
    elseif c == 37 and d == 102 then
      local e = class_end(p, i + 2, lp)
      if not e then break end
      i, items, trailing = e, items + 1, false
    elseif c == 37 and d and d >= 48 and d <= 57 then
      i, items, leaf, trailing = i + 2, items + 1, true, false
    else
      local e = class_end(p, i, lp)
      if not e then break end
      local q = s_byte(p, e)
      items = items + 1
      if q == 42 or q == 43 or q == 45 then
        mult, trailing, i = mult + 1, true, e + 1
      elseif q == 63 then
        opt, trailing, i = opt + 1, false, e + 1
      else
        trailing, i = false, e
      end
    end
  end
  -- a backtracking item with nothing after it never makes the rest of the pattern retry
  if trailing then mult = mult - 1 end
  return {anchored, mult, 2.0 ^ opt * (items > 0 and items or 1), leaf}
end

local function cheap(p, n, anchor_ok)
  local m = models[anchor_ok][p]
  if m == nil then
    if nmodels >= 256 then models, nmodels = {[true] = {}, [false] = {}}, 0 end
    m = model(p, anchor_ok)
    models[anchor_ok][p], nmodels = m, nmodels + 1
  end
  local cost = (m[1] and 1 or n + 1) * (n + 1.0) ^ m[2] * m[3] * (m[4] and n + 1 or 1)
  return cost <= BUDGET
end

local fallback_module
local function fallback()
  if not fallback_module then
    fallback_module = load(load_chunk("fallback"), "=[llmspell]", "b")(
      s_byte, s_sub, s_find, s_format, t_concat, t_unpack)
  end
  return fallback_module
end

local function str_args(s, p)
  if type(s) == "number" then s = tostring(s) end
  if type(p) == "number" then p = tostring(p) end
  return s, p, type(s) == "string" and type(p) == "string"
end

local function int_arg(v)
  return v == nil or tointeger(v) ~= nil
end

local function plain_find(s, p, init)
  local ls, lp = #s, #p
  init = tointeger(init or 1)
  if init < 0 then init = init < -ls and 1 or ls + init + 1 elseif init == 0 then init = 1 end
  if init > ls + 1 then return nil end
  local window = floor(BUDGET * 8 / lp) + 1
  local i = init
  while i <= ls - lp + 1 do
    local a = s_find(s_sub(s, i, i + window + lp - 2), p, 1, true)
    if a then return i + a - 1, i + a + lp - 2 end
    i = i + window
  end
  return nil
end

local function g_find(s, p, init, plain)
  local ok
  s, p, ok = str_args(s, p)
  if not ok or not int_arg(init) then return s_find(s, p, init, plain) end
  if plain or not s_find(p, SPECIALS) then
    if #p * #s <= BUDGET * 8 or #p == 0 then return s_find(s, p, init, plain) end
    return plain_find(s, p, init)
  end
  if cheap(p, #s, true) then return s_find(s, p, init) end
  return fallback().find(s, p, tointeger(init))
end

local function g_match(s, p, init)
  local ok
  s, p, ok = str_args(s, p)
  if not ok or not int_arg(init) or cheap(p, #s, true) then return s_match(s, p, init) end
  return fallback().match(s, p, tointeger(init))
end

local function g_gmatch(s, p, init)
  local ok
  s, p, ok = str_args(s, p)
  if not ok or not int_arg(init) or cheap(p, #s, false) then return s_gmatch(s, p, init) end
  return fallback().gmatch(s, p, tointeger(init))
end

local function g_gsub(s, p, repl, n)
  local ok
  s, p, ok = str_args(s, p)
  local tr = type(repl)
  if not ok or not int_arg(n) or cheap(p, #s, true)
     or not (tr == "string" or tr == "number" or tr == "table" or tr == "function") then
    return s_gsub(s, p, repl, n)
  end
  return fallback().gsub(s, p, repl, tointeger(n))
end

local function g_rep(s, n, sep)
  local ls = type(s) == "string" and #s or type(s) == "number" and #tostring(s)
  local lsep = sep == nil and 0
    or type(sep) == "string" and #sep
    or type(sep) == "number" and #tostring(sep)
  if ls and lsep and math_type(n) then
    if n <= 0 or ls + lsep == 0 then return "" end
    if ls * n + lsep * (n - 1) > MAX_STRING then trip("memory") end
  end
  return s_rep(s, n, sep)
end

-- table functions that could run long in C
local function lt(a, b) return a < b end

local function g_sort(t, comp)
  if comp == nil and type(t) == "table" and rawlen(t) > 1000 then return t_sort(t, lt) end
  return t_sort(t, comp)
end

local function g_move(a1, f, e, t, a2)
  if math_type(f) and math_type(e) and math_type(t) and e - f > 10000 then
    a2 = a2 == nil and a1 or a2
    if t > e or t <= f or a1 ~= a2 then
      for i = 0, e - f do a2[t + i] = a1[f + i] end
    else
      for i = e - f, 0, -1 do a2[t + i] = a1[f + i] end
    end
    return a2
  end
  return t_move(a1, f, e, t, a2)
end

return {
  find = g_find, match = g_match, gmatch = g_gmatch, gsub = g_gsub, rep = g_rep,
  sort = g_sort, move = g_move,
}
