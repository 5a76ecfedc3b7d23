-- The Lua side of the Lua engine: the sandbox every spell runs in.
--
-- The prelude runs once per interpreter, in the real (unsandboxed) global table, before any spell
-- code. It captures the real functions it needs as locals, builds the spell's environment (only
-- safe functions; ``string``/``table``/``coroutine`` with guarded replacements), and hands back to
-- Python the handful of functions the engine drives:
--
-- * ``runner(f, ...)`` — the body of every coroutine the engine drives (the main chunk and each
--   callback). Installs the CPU hook and yields a status code first: ``0, results...`` when done,
--   ``-1, {error, traceback}`` on error, ``-2, kind`` when a limit ended the run; resumed with
--   ``g, ...`` after that, it runs the next call ``g(...)`` the same way. API stubs yield
--   ``id, args...`` with ``id > 0``.
-- * ``compile(source, chunkname, binary)`` — ``load`` into the spell's environment: in text mode,
--   or (``binary`` true) bytecode the engine itself dumped from a spell it compiled before.
-- * ``dump(f)`` — ``string.dump`` of a compiled spell, debug information kept (file:line).
-- * ``make_table(name, fields, dynamic_id, dynamic_sync, name1, id1, sync1, ...)`` — a namespace or
--   host-object table whose functions are stubs: sync ones (``sync1 == true``) call Python
--   directly (``call_sync``), eager ones (``sync1 == "eager"``) too (``call_eager``) unless Lua
--   cannot wait here, and yield to the driver only when the call has to wait; the others yield to
--   the driver. ``t:f(x)`` and ``t.f(x)`` both work.
-- * ``make_table_from(name, fields, dynamic_id, dynamic_sync, {name1, id1, sync1, ...})`` — the same
--   with the functions in one table: what the API's installer chunk calls (see ``_plan.py``).
-- * ``make_function(id, sync)`` — a global API function; ``print_via(id)`` — Lua's ``print``
--   (``tostring`` of each argument, tab-separated, newline-terminated) sending its text to ``id``.
-- * ``env`` — the spell's global table.
-- * ``untrip()`` — clears a limit, for a session (``llmspell repl``) whose next input starts
--   afresh: the input that hit the limit has unwound by then.
--
-- Limits are sticky: once ``tripped`` is set (by the count hook, a memory error, or Python), every
-- ``pcall``/``xpcall``/``coroutine.resume`` re-raises the private ``LIMIT`` error, so no spell code
-- can catch it.
--
-- guards.lua (string pattern functions, ``string.rep``, ``table.sort``/``move``) is a second
-- chunk loaded on first use, which keeps idle instances small; fallback.lua, the interruptible
-- pattern matcher, a third.

local check, call_sync, call_eager, load_chunk, COUNT, BUDGET, MAX_STRING = ...

local type, select, error, tostring, tonumber = type, select, error, tostring, tonumber
local pcall, xpcall, next = pcall, xpcall, next
local setmetatable, getmetatable = setmetatable, getmetatable
local rawget, rawlen = rawget, rawlen
local load = load
local co_create, co_resume, co_yield = coroutine.create, coroutine.resume, coroutine.yield
local co_status, co_running, co_isyieldable, co_close =
  coroutine.status, coroutine.running, coroutine.isyieldable, coroutine.close
local sethook, traceback, getinfo = debug.sethook, debug.traceback, debug.getinfo
local s_find, s_rep, s_byte, s_sub = string.find, string.rep, string.byte, string.sub
local s_match, s_gmatch, s_gsub, s_format = string.match, string.gmatch, string.gsub, string.format
local t_concat, t_sort, t_move, t_unpack = table.concat, table.sort, table.move, table.unpack

local s_dump = string.dump
string.dump = nil

local LIMIT = setmetatable({}, {
  __metatable = false,
  __tostring = function() return "limit exceeded" end,
})
local MEMERR = "not enough memory"
local tripped = false

-- check() returns true to end the run, or a new instruction count when the time between two
-- hooks strays from the target (a loop of costly C calls such as big:upper() needs a smaller
-- count to be stopped on time; cheap instructions can go back to the default).
local outside = {}  -- the runner's own functions, outside its xpcall: never raise there

local function hook()
  local r = tripped or check()
  if r == true or tripped then
    tripped = tripped or "host"
    local info = getinfo(2, "f")
    if not (info and outside[info.func]) then error(LIMIT, 0) end
  elseif r then
    sethook(hook, "", r)
  end
end

local function trip(kind)
  tripped = tripped or kind
  error(LIMIT, 0)
end

-- pcall / xpcall that cannot swallow a limit --------------------------------------------------
local function filter(ok, ...)
  if tripped then error(LIMIT, 0) end
  if not ok and ... == MEMERR then trip("memory") end
  return ok, ...
end

local function s_pcall(f, ...)
  return filter(pcall(f, ...))
end

local function s_xpcall(f, handler, ...)
  return filter(xpcall(f, function(e)
    if tripped then return LIMIT end
    return handler(e)
  end, ...))
end

-- coroutines: hooked, and API requests made inside them pass up to the driver -----------------
local USER = {}
local user_cos = setmetatable({}, {__mode = "k"})

local function s_create(f)
  if type(f) ~= "function" then error("bad argument #1 to 'create' (function expected)", 2) end
  local co = co_create(f)
  sethook(co, hook, "", COUNT)
  user_cos[co] = true
  return co
end

local function pass(co, ok, ...)
  if tripped then error(LIMIT, 0) end
  if not ok then
    if ... == MEMERR then trip("memory") end
    return false, ...
  end
  if co_status(co) == "dead" then return true, ... end
  if ... == USER then return true, select(2, ...) end
  -- an API request from inside a user coroutine: forward it and resume with the reply
  return pass(co, co_resume(co, co_yield(...)))
end

local function s_resume(co, ...)
  if not user_cos[co] then
    if type(co) ~= "thread" then error("bad argument #1 to 'resume' (coroutine expected)", 2) end
    return false, "cannot resume non-suspended coroutine"
  end
  return pass(co, co_resume(co, ...))
end

local function s_yield(...)
  if not user_cos[co_running()] then error("attempt to yield from outside a coroutine", 2) end
  return co_yield(USER, ...)
end

local function wrap_result(ok, ...)
  if ok then return ... end
  error((...), 0)
end

local function s_wrap(f)
  local co = s_create(f)
  return function(...) return wrap_result(s_resume(co, ...)) end
end

local function s_close(co)
  if not user_cos[co] then
    error("bad argument #1 to 'close' (not a coroutine of this spell)", 2)
  end
  return filter(co_close(co))
end

local function s_isyieldable()
  return user_cos[co_running()] ~= nil and co_isyieldable()
end

-- the body of every coroutine driven from Python --------------------------------------------
local function handler(e)
  if tripped then return LIMIT end
  if type(e) == "table" then
    local mt = getmetatable(e)
    if type(mt) == "table" and rawget(mt, "__tostring") then
      local ok, s = pcall(tostring, e)
      if ok then e = s end
    end
  end
  return {e, traceback(nil, 2)}
end

local function finish(ok, ...)
  if tripped then return -2, tripped end
  if ok then
    -- the first two results only (``nil, message`` is a failure): lupa copies every value
    -- it is handed, and ``return s, s, s, ...`` must not make a thousand copies of s
    local a, b = ...
    return 0, a, b
  end
  if ... == MEMERR then tripped = "memory"; return -2, tripped end
  return -1, ...
end

-- A coroutine serves one call after the other: once a call has finished it yields its results
-- (as a finished runner's would be returned) and waits there for the next ``f, ...`` (the
-- engine keeps a few such idle coroutines instead of making one per callback). Both steps are
-- tail calls: while idle, nothing of the finished call is held but its results.
local serve

local function deliver(...)
  return serve(co_yield(...))
end

serve = function(f, ...)
  sethook(hook, "", COUNT)
  return deliver(finish(xpcall(f, handler, ...)))
end
local runner = serve
outside[serve], outside[deliver], outside[finish] = true, true, true

-- API stubs ------------------------------------------------------------------------------------
-- Every value handed to Python is copied by lupa, the strings included: the arguments of a call
-- with many of them are weighed first, so that f(table.unpack(t)) over a table of ten thousand
-- references to one big string is a memory error, not gigabytes of copies.
local MANY_ARGS = 8

local function weigh(...)
  local total = 0
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "string" then total = total + #v end
  end
  if total > MAX_STRING then trip("memory") end
end

local function result(code, v)
  if code == 0 then return v end
  if code == 1 then error(v, 0) end
  trip("host")
end

local function request(...)
  if not co_isyieldable() then
    error("this API call cannot be made here: it waits, and Lua cannot wait inside a function "
      .. "called from C (a table.sort comparator, a string.gsub callback, __tostring ...)", 3)
  end
  return co_yield(...)
end

-- An eager call (see eager_api) that has to wait: Python keeps the call it started, and the
-- coroutine yields its id alone for the driver to finish that call.
local PENDING = 3

local function eager_result(id, code, v)
  if code == PENDING then return result(co_yield(id)) end
  return result(code, v)
end

-- A stub refuses to run once a limit tripped: a to-be-closed variable's __close handler runs
-- while the limit's error unwinds, and must not reach the host.
local function stub(id, sync, owner)
  if sync == "eager" then
    return function(...)
      if tripped then error(LIMIT, 0) end
      if select("#", ...) > MANY_ARGS then weigh(...) end
      if not co_isyieldable() then  -- (it may have to wait: refused as any waiting call)
        if owner ~= nil and ... == owner then return result(request(id, select(2, ...))) end
        return result(request(id, ...))
      end
      local code, v  -- (a call that finished returns here, without eager_result: every emit)
      if owner ~= nil and ... == owner then
        code, v = call_eager(id, select(2, ...))
      else
        code, v = call_eager(id, ...)
      end
      if code == 0 then return v end
      return eager_result(id, code, v)
    end
  end
  if sync then
    return function(...)
      if tripped then error(LIMIT, 0) end
      if select("#", ...) > MANY_ARGS then weigh(...) end
      if owner ~= nil and ... == owner then return result(call_sync(id, select(2, ...))) end
      return result(call_sync(id, ...))
    end
  end
  return function(...)
    if tripped then error(LIMIT, 0) end
    if select("#", ...) > MANY_ARGS then weigh(...) end
    if owner ~= nil and ... == owner then return result(request(id, select(2, ...))) end
    return result(request(id, ...))
  end
end

local function dynamic_stub(id, sync, owner, key)
  if sync == "eager" then
    return function(...)
      if tripped then error(LIMIT, 0) end
      if select("#", ...) > MANY_ARGS then weigh(...) end
      if not co_isyieldable() then
        if ... == owner then return result(request(id, key, select(2, ...))) end
        return result(request(id, key, ...))
      end
      if ... == owner then return eager_result(id, call_eager(id, key, select(2, ...))) end
      return eager_result(id, call_eager(id, key, ...))
    end
  end
  if sync then
    return function(...)
      if tripped then error(LIMIT, 0) end
      if select("#", ...) > MANY_ARGS then weigh(...) end
      if ... == owner then return result(call_sync(id, key, select(2, ...))) end
      return result(call_sync(id, key, ...))
    end
  end
  return function(...)
    if tripped then error(LIMIT, 0) end
    if select("#", ...) > MANY_ARGS then weigh(...) end
    if ... == owner then return result(request(id, key, select(2, ...))) end
    return result(request(id, key, ...))
  end
end

local function make_table_from(name, fields, dyn_id, dyn_sync, spec)
  local t = {}
  if fields then
    for k, v in next, fields do t[k] = v end
  end
  for i = 1, #spec, 3 do
    t[spec[i]] = stub(spec[i + 1], spec[i + 2], t)
  end
  local mt = {__metatable = false, __name = name}
  if dyn_id then
    local cache = {}
    mt.__index = function(_, k)
      if type(k) ~= "string" then return nil end
      local f = cache[k]
      if f == nil then
        f = dynamic_stub(dyn_id, dyn_sync, t, k)
        cache[k] = f
      end
      return f
    end
  end
  return setmetatable(t, mt)
end

local function make_table(name, fields, dyn_id, dyn_sync, ...)
  return make_table_from(name, fields, dyn_id, dyn_sync, {...})
end

local function make_function(id, sync)
  return stub(id, sync, nil)
end

-- guarded string and table functions, loaded on first use (see guards.lua) -----------------
local guards
local function guarded(name)
  return function(...)
    if not guards then
      guards = load(load_chunk("guards"), "=[llmspell]", "b")(
        trip, load_chunk, BUDGET, MAX_STRING, s_find, s_match, s_gmatch, s_gsub, s_rep,
        s_byte, s_sub, s_format, t_concat, t_sort, t_move, t_unpack)
    end
    return guards[name](...)
  end
end

local function s_setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc metamethods are not available in spells", 2)
  end
  return setmetatable(t, mt)
end

-- the spell's environment ---------------------------------------------------------------------
-- The library tables are edited in place rather than copied (smaller instances): the prelude
-- holds its own references to every original function it uses, and the real _G that still
-- lists them is out of the spell's reach.
local S = string
S.find, S.match, S.gmatch = guarded("find"), guarded("match"), guarded("gmatch")
S.gsub, S.rep = guarded("gsub"), guarded("rep")
local string_mt = getmetatable("")
string_mt.__index = S
string_mt.__metatable = false

table.sort, table.move = guarded("sort"), guarded("move")

local C = coroutine
C.create, C.resume, C.yield, C.wrap, C.close = s_create, s_resume, s_yield, s_wrap, s_close
C.isyieldable = s_isyieldable

local env = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
  pcall = s_pcall, xpcall = s_xpcall, select = select, tonumber = tonumber, tostring = tostring,
  type = type, unpack = t_unpack, rawequal = rawequal, rawlen = rawlen, rawget = rawget,
  rawset = rawset, setmetatable = s_setmetatable, getmetatable = getmetatable,
  string = S, table = table, math = math, utf8 = utf8, coroutine = C,
  os = {time = os.time, clock = os.clock, date = os.date, difftime = os.difftime},
  _VERSION = _VERSION,
}
env._G = env

local function compile(source, chunkname, binary)
  return load(source, chunkname, binary and "b" or "t", env)
end

local function print_via(id)
  return function(...)
    if tripped then error(LIMIT, 0) end
    local n, parts = select("#", ...), {...}
    for i = 1, n do parts[i] = tostring(parts[i]) end
    return result(call_sync(id, t_concat(parts, "\t", 1, n) .. "\n"))
  end
end

local function untrip()
  tripped = false
end

return runner, compile, make_table, make_function, print_via, env, untrip, make_table_from, s_dump
