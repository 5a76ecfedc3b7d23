// The JavaScript half of the bridge, evaluated once in every fresh QuickJS context.
//
// ``PRELUDE`` is a strict-mode script whose block scope holds the bridge (nothing of it is a
// global) and whose value is ``init(spec, source) -> bridge | error``. Before any spell code runs
// it captures the built-ins it relies on, so a spell that later overwrites ``JSON``, ``Promise``
// or prototype methods cannot reach or disturb it. ``init`` installs the API globals, freezes
// ``Promise``, locks ``Error.prepareStackTrace`` to its own formatter (which shows only the
// spell's frames, and whose call sites would otherwise hand out the bridge's functions), compiles
// the spell as the body of an async function and returns ``bridge(kind, text)``:
//
// * ``bridge(1, batch)`` applies a JSON batch from the host: ``[0, id, ok, flagged, value]``
//   settles API call ``id`` (an error is ``[name, message, plain]``); ``[1, inv, fid, flagged,
//   args]`` invokes script function ``fid``; ``[2]`` starts the spell (invocation 0);
//   ``[3, fid, n]`` releases a function the host no longer holds; ``[4]`` asks for every
//   rejection still unhandled to be reported now (the host has nothing else to run);
//   ``[5, inv, kind, sources, file]`` runs a REPL input (stack frames then name ``file``) as
//   invocation ``inv``: kind 0 the script
//   ``sources[0]`` (indirect eval: its declarations stay global, its completion value is the
//   result), kind 1 the first of ``sources`` that compiles as an async function body.
// * ``bridge(2)`` returns everything queued since the last call, as JSON:
//   ``[2, inv, 1, flagged, value]`` / ``[2, inv, 0, 0, error]`` an invocation's result;
//   ``[3, error]`` a rejected API Promise nobody handled; ``[4]`` some rejection is not handled
//   yet. A rejection is reported when it is still unhandled at the end of the turn after the
//   one it happened in (calls that finish together may settle in separate turns), or when the
//   host says it is idle.
//
// The script calls the host directly through ``HOST(op, id, flagged, args)``, a Python function
// the host adds as a global and the prelude takes away before any spell code runs:
//
// * ``op`` -1: print the JSON string ``args``.
// * ``id`` 0: call the ``sync_api`` function ``op`` with the JSON list ``args`` and answer
//   ``[0, flagged, value]`` or ``[1, name, message, plain]`` at once: such calls return their
//   value, no Promise.
// * ``id`` > 0: start API call ``id``; answers '' (its Promise is settled by a later batch),
//   ``[1, name, message, plain]`` (refused before it started, or an eager call that failed at
//   once) or ``[0, flagged, value]`` (an eager call, see ``eager_api``, that finished at once:
//   its Promise is returned settled).
// * Any of them answers 'L' when it hit a limit: the script must not go on, so it spins until
//   the host's interrupt handler, already told, ends it (an interrupt cannot be caught).
//
// Values cross as JSON text. Functions, host objects and non-finite numbers travel as one-key
// marker objects (``{"\u0000f": id}``, ``{"\u0000h": ...}``, ``{"\u0000c": [op, name]}``,
// ``{"\u0000n": "NaN"}``); user keys starting with NUL get one more NUL, and ``flagged`` says
// whether a payload needs this decoding at all. Internal records have a null prototype and
// internal lists are strings, so the bridge never looks a property up on a prototype a spell
// can change.
'use strict';
{
const G = globalThis, O = Object, P = Promise, E = Error, D = Date, TE = TypeError;
const FP = Function.prototype, uncurry = FP.bind.bind(FP.call);
const parse = JSON.parse, quote = JSON.stringify, keys = O.keys, def = O.defineProperty;
const freeze = O.freeze, setProto = O.setPrototypeOf, isFrozen = O.isFrozen;
const isArray = Array.isArray, apply = Reflect.apply, rget = Reflect.get, hasOwn = O.hasOwn;
const then = uncurry(P.prototype.then), fnStr = uncurry(FP.toString);
const resolved = FP.bind.call(P.resolve, P);  // (settles as a Promise's resolve function does)
const slice = uncurry(String.prototype.slice), symStr = uncurry(Symbol.prototype.toString);
const M = Map, mGet = uncurry(M.prototype.get), mSet = uncurry(M.prototype.set);
const mDel = uncurry(M.prototype.delete), iso = uncurry(D.prototype.toISOString);
const wmGet = uncurry(WeakMap.prototype.get), wmSet = uncurry(WeakMap.prototype.set);
const wsAdd = uncurry(WeakSet.prototype.add), wsHas = uncurry(WeakSet.prototype.has);
const isWF = uncurry(String.prototype.isWellFormed), code = uncurry(String.prototype.charCodeAt);
const toWF = uncurry(String.prototype.toWellFormed);
const indexOf = uncurry(String.prototype.indexOf), repeat = uncurry(String.prototype.repeat);
const geval = G.eval, capture = FP.bind.call(E.captureStackTrace, E);
const HOST = G.__llmspellHost;
delete G.__llmspellHost;
const AsyncFunction = (async function () {}).constructor, TAG = Symbol.toStringTag;
const MAXD = 200;
let FILE, SKIP, BUDGET = Infinity;  // from the host's spec, set by init
const BIG_DIGITS = 4000;  // longest BigInt the host takes (Python parses ints up to 4300)
const SAFE = 9007199254740992;
let queue = '', seq = 0, fseq = 0, mainFn, rejected = null, flushAll = false, rawSites = false;
// (tables keyed by a counter are null-prototype objects, not Maps: quickjs-ng hashes a Map's
// number keys by their float64 bits, whose low bits are all zero for small integers, so a Map
// of thousands of pending calls degrades into one long hash chain)
const table = () => ({ __proto__: null });
const calls = table(), fnById = table(), fnSent = table(), hosts = table();
const fnIds = new M(), foreign = new M(), hostIds = new WeakMap();
const consumed = new WeakSet(), ours = new WeakSet(), plain = new WeakSet();
const own = e => { wsAdd(ours, e); return e; };
const prop = value => ({ __proto__: null, value, writable: true, configurable: true });

function put(entry) { queue = queue === '' ? entry : queue + ',' + entry; }
function stop() { for (;;) { /* the host's interrupt handler ends the run */ } }
function over() { HOST(-2, 0, 0, ''); stop(); }  // a value over the memory budget: a limit
// (strings to the host are flattened with slice: it cannot read QuickJS rope strings; lone
// surrogates become U+FFFD, as text the host can print)
function emit(s) {
  if (!isWF(s)) s = toWF(s);
  if (HOST(-1, 0, 0, slice(quote(s), 0)) === 'L') stop();
}

// Script values -> JSON text. st.f: markers used; chain: the objects being serialised.
// Shared structure is bounded: st.m remembers every object serialised so far, with its text
// (or only the text's length when it holds a function: sending one counts, so it is walked
// again). Meeting one again adds that length to st.n (what the value grows by through sharing;
// inside a walk already paid for, st.r > 0, nothing more) and past BUDGET (a sixteenth of the
// memory limit) the run ends with the memory limit: quickly, as the text is reused, not made
// again. A BigInt goes as an integer, up to BIG_DIGITS digits.
function fnId(f) {
  let id = mGet(fnIds, f);
  if (id === undefined) {
    id = ++fseq;
    mSet(fnIds, f, id);
    fnById[id] = f;
    fnSent[id] = 0;
  }
  fnSent[id]++;
  return id;
}
function ser(v, d, chain, st) {
  switch (typeof v) {
    case 'string': return quote(v);
    case 'number':
      if (v - v !== 0) { st.f = true; return '{"\\u0000n":"' + v + '"}'; }
      if (v <= SAFE && v >= -SAFE) return '' + v;
      return v % 1 === 0 && (v < 1e21 && v > -1e21) ? v + '.0' : '' + v;  // a float, not an int
    case 'boolean': return v ? 'true' : 'false';
    case 'bigint': {
      const t = '' + v;
      if (t.length > BIG_DIGITS + 1) {
        throw own(new TE('cannot pass a BigInt of more than ' + BIG_DIGITS + ' digits'));
      }
      return t;
    }
    case 'function': st.f = true; st.fn++; return '{"\\u0000f":' + fnId(v) + '}';
    case 'object': if (v === null) return 'null'; break;
    default: return 'null';
  }
  const hid = wmGet(hostIds, v);
  if (hid !== undefined) { st.f = true; return '{"\\u0000h":' + hid + '}'; }
  if (v instanceof D) { try { return quote(iso(v)); } catch (e) { return 'null'; } }
  if (v instanceof E) return quote(errText(v));
  if (d > MAXD) throw own(new TE('value nested more than ' + MAXD + ' levels deep'));
  for (let c = chain; c !== null; c = c.up) {
    if (c.v === v) throw own(new TE('cannot convert a cyclic structure'));
  }
  chain = { __proto__: null, v, up: chain };
  let m = st.m;
  if (m === undefined) m = st.m = new M();
  const seen = mGet(m, v);
  if (seen !== undefined) {
    const pure = typeof seen === 'string';
    if (st.r === 0) {
      st.n += pure ? seen.length : seen;
      if (st.n > BUDGET) over();
    }
    if (pure) return seen;
    st.r++;
    try { return serObject(v, d, chain, st); } finally { st.r--; }
  }
  const fns = st.fn, s = serObject(v, d, chain, st);
  mSet(m, v, st.fn === fns ? s : s.length);
  return s;
}
function serObject(v, d, chain, st) {
  let s;
  if (isArray(v)) {
    s = '[';
    const n = v.length;
    for (let i = 0; i < n; i++) s += (i ? ',' : '') + ser(v[i], d + 1, chain, st);
    return s + ']';
  }
  s = '{';
  const ks = keys(v);
  let sep = '';
  for (let i = 0; i < ks.length; i++) {
    let k = ks[i];
    const x = v[k];
    if (x === undefined) continue;
    if (k !== '' && k[0] === '\0') { st.f = true; k = '\0' + k; }
    s += sep + quote(k) + ':' + ser(x, d + 1, chain, st);
    sep = ',';
  }
  return s + '}';
}
function serArgs(args, name, st) {
  let s = name === undefined ? '' : quote(name);
  for (let i = 0; i < args.length; i++) s += (s === '' ? '' : ',') + ser(args[i], 1, null, st);
  return '[' + s + ']';
}
function str(x) {
  try { return typeof x === 'string' ? x : show(x, 0, null); } catch (e) { return '?'; }
}
function errText(e) {
  let n = '', m = '';
  try { n = str(e.name); m = str(e.message); } catch (x) { /* keep what we have */ }
  return n === '' ? m : m === '' ? n : n + ': ' + m;
}
function errInfo(e) {
  try { return errInfo_(e); } catch (x) { return '{"name":"Error","message":"?","stack":""}'; }
}
function errInfo_(e) {
  let n = '', m, s = '';
  if (e instanceof E) {
    try { n = str(e.name); } catch (x) { n = 'Error'; }
    try { m = str(e.message); } catch (x) { m = ''; }
    try { const t = e.stack; if (typeof t === 'string') s = t; } catch (x) { /* no stack */ }
  } else if (e === null) {
    n = 'null';  // what QuickJS throws when it cannot even allocate the error object
    m = 'null';
  } else {
    m = str(e);
  }
  return '{"name":' + quote(n) + ',"message":' + quote(m) + ',"stack":' + quote(s)
    + ',"plain":' + (typeof e === 'object' && e !== null && wsHas(plain, e)) + '}';
}

// console.*: strings raw at top level, everything else JSON-ish.
function show(v, d, chain) {
  switch (typeof v) {
    case 'string': return d ? quote(v) : v;
    case 'number': case 'boolean': case 'undefined': return '' + v;
    case 'bigint': return v + 'n';
    case 'symbol': return symStr(v);
    case 'function': {
      const n = v.name;
      return '[Function: ' + (typeof n === 'string' && n !== '' ? n : 'anonymous') + ']';
    }
  }
  if (v === null) return 'null';
  if (v instanceof E) return errText(v);
  if (v instanceof D) { try { return iso(v); } catch (e) { return 'Invalid Date'; } }
  for (let c = chain; c !== null; c = c.up) if (c.v === v) return '[Circular]';
  if (d > 8) return isArray(v) ? '[Array]' : '[Object]';
  chain = { __proto__: null, v, up: chain };
  let s;
  if (isArray(v)) {
    s = '[';
    for (let i = 0; i < v.length; i++) {
      s += (i ? ',' : '') + (v[i] === undefined ? 'null' : show(v[i], d + 1, chain));
    }
    return s + ']';
  }
  const ks = keys(v);
  s = '{';
  for (let i = 0; i < ks.length; i++) {
    s += (i ? ',' : '') + quote(ks[i]) + ':' + show(v[ks[i]], d + 1, chain);
  }
  return s + '}';
}
function log(...a) {
  let s = '';
  for (let i = 0; i < a.length; i++) s += (i ? ' ' : '') + show(a[i], 0, null);
  emit(s + '\n');
}

// API calls: a Promise whose settlement the host sends back by id. Its own `then` and
// `constructor` notice every way of handling it (await, then/catch, Promise.all...).
function mark(p) { if (typeof p === 'object' && p !== null) wsAdd(consumed, p); }
const apiProto = O.create(P.prototype, {
  constructor: { get() { mark(this); return P; } },
  then: { value: { then(a, b) { mark(this); return then(this, a, b); } }.then },
});
function failure(site, name, message, isPlain) {  // the Error of a failed API call
  def(site, 'name', prop(name));
  def(site, 'message', prop(message));
  if (isPlain) wsAdd(plain, site);  // a SpellError: its message says it all (as in Lua)
  return site;
}
function args(a, name, label, st) {  // the arguments as JSON text, or throws
  try { return slice(serArgs(a, name, st), 0); } catch (e) {
    throw wsHas(ours, e) ? failure(new E(), 'TypeError', label + ': ' + e.message, false) : e;
  }
}
// (the Error of a call is made only when the call fails or goes on after HOST answered: made
// in request, it has the stack the call was made from all the same)
function pendingSite(f) {  // the call sites of a call that goes on, from the script's call of f
  const o = { __proto__: null, stack: undefined };  // (not an Error: made only if it fails)
  rawSites = true;  // (prepare keeps the call sites as they are: most calls never fail)
  try { capture(o, f); } finally { rawSites = false; }
  return o;
}
function promise(c) {
  const p = new P(function (y, n) { c.res = y; c.rej = n; });
  setProto(p, apiProto);
  c.p = p;
  return c;
}
function refused(e) {  // a Promise rejected with e: the call failed before it started
  const c = promise({ __proto__: null, res: undefined, rej: undefined, p: undefined });
  fail(c, e);
  return c.p;
}
function request(op, a, name, label, f) {  // (f: the stub the script called)
  const st = { __proto__: null, f: false, m: undefined, n: 0, r: 0, fn: 0 };
  let text;
  try { text = args(a, name, label, st); } catch (e) { return refused(e); }
  const id = ++seq, r = HOST(op, id, st.f ? 1 : 0, text);
  if (r === '') {
    const c = promise({ __proto__: null, res: undefined, rej: undefined, p: undefined,
      site: pendingSite(f) });
    calls[id] = c;
    return c.p;
  }
  if (r === 'L') stop();
  const m = parse(r);
  if (m[0] === 1) return refused(failure(new E(), m[1], m[2], m[3]));
  // an eager call that finished in HOST: its value, already settled
  const p = resolved(m[1] ? revive(m[2]) : m[2]);
  setProto(p, apiProto);
  return p;
}
function call(op, a, name, label) {  // a sync_api function: its value, at once
  const st = { __proto__: null, f: false, m: undefined, n: 0, r: 0, fn: 0 };
  const text = args(a, name, label, st);  // first: it sets st.f (functions passed)
  const r = HOST(op, 0, st.f ? 1 : 0, text);
  if (r === 'L') stop();
  const m = parse(r);
  if (m[0] === 0) return m[1] ? revive(m[2]) : m[2];
  throw failure(new E(), m[1], m[2], m[3]);
}
function fail(c, e) {
  c.rej(e);
  if (!wsHas(consumed, c.p)) rejected = { __proto__: null, p: c.p, e, up: rejected, old: false };
}
function settle(id, ok, f, v) {
  const c = calls[id];
  if (c === undefined) return;
  delete calls[id];
  if (ok) { c.res(f ? revive(v) : v); return; }
  const e = new E();
  def(e, 'stack', prop(prepare(e, c.site.stack)));  // (see pendingSite)
  fail(c, failure(e, v[0], v[1], v[2]));
}
function stub(op, name, dyn, label, sync) {
  const f = sync ? (...a) => call(op, a, dyn, label) : (...a) => request(op, a, dyn, label, f);
  def(f, 'name', { value: name });
  return f;
}

// JSON from the host -> script values (only for flagged payloads).
function revive(v) {
  if (typeof v !== 'object' || v === null) return v;
  if (isArray(v)) { for (let i = 0; i < v.length; i++) v[i] = revive(v[i]); return v; }
  const ks = keys(v);
  if (ks.length === 1) {
    const k = ks[0], x = v[k];
    if (k === '\0f') return fnById[x];
    if (k === '\0h') return host(x);
    if (k === '\0n') return +x;
    if (k === '\0c') {
      let f = mGet(foreign, x[0]);
      if (f === undefined) { f = stub(x[0], x[1], undefined, x[1], 0); mSet(foreign, x[0], f); }
      return f;
    }
  }
  const o = {};
  for (let i = 0; i < ks.length; i++) {
    const k = ks[i], x = revive(v[k]);
    def(o, k !== '' && k[0] === '\0' ? slice(k, 1) : k,
      { __proto__: null, value: x, writable: true, enumerable: true, configurable: true });
  }
  return o;
}
function host(p) {
  let o = hosts[p[0]];
  if (o !== undefined) return o;
  o = {};
  hosts[p[0]] = o;
  wmSet(hostIds, o, p[0]);
  const type = p[1], ms = p[2], fs = revive(p[3]), fk = keys(fs);
  for (let i = 0; i < fk.length; i++) {
    def(o, fk[i], { __proto__: null, value: fs[fk[i]], enumerable: true, configurable: true });
  }
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i][0];
    def(o, m, { __proto__: null, value: stub(ms[i][1], m, undefined, type + '.' + m, ms[i][2]) });
  }
  def(o, TAG, { value: type });
  return freeze(o);
}
function deepFreeze(v) {
  if (typeof v === 'object' && v !== null && !isFrozen(v)) {
    freeze(v);
    const ks = keys(v);
    for (let i = 0; i < ks.length; i++) deepFreeze(v[ks[i]]);
  }
  return v;
}

// Invocations from the host (the spell's top level is invocation 0).
function done(inv, ok, v) {
  if (ok) {
    const st = { __proto__: null, f: false, m: undefined, n: 0, r: 0, fn: 0 };
    let t;
    try { t = ser(v, 0, null, st); } catch (e) { ok = false; v = e; }
    if (ok) { put('[2,' + inv + ',1,' + (st.f ? 1 : 0) + ',' + t + ']'); return; }
  }
  put('[2,' + inv + ',0,0,' + errInfo(v) + ']');
}
function invoke(inv, fn, args) {
  if (typeof fn !== 'function') {
    done(inv, false, new TE('the script function is no longer available'));
    return;
  }
  let r;
  try { r = apply(fn, undefined, args); } catch (e) { done(inv, false, e); return; }
  if (typeof r !== 'object' && typeof r !== 'function') { done(inv, true, r); return; }
  const q = new P(function (res) { res(r); });
  then(q, function (v) { done(inv, true, v); }, function (e) { done(inv, false, e); });
}
function evaluate(inv, kind, srcs) {  // a REPL input (a Promise value is awaited)
  if (kind === 0) { invoke(inv, function () { return geval(srcs[0]); }, []); return; }
  let fn, err;
  for (let i = 0; i < srcs.length && fn === undefined; i++) {
    try { fn = new AsyncFunction(srcs[i]); } catch (e) { err = e; }
  }
  if (fn === undefined) done(inv, false, err);
  else invoke(inv, fn, []);
}
function release(fid, n) {
  const left = fnSent[fid] - n;
  if (left > 0) { fnSent[fid] = left; return; }
  mDel(fnIds, fnById[fid]);
  delete fnById[fid];
  delete fnSent[fid];
}
function bridge(kind, text) {
  if (kind === 1) {
    const b = parse(text);
    for (let i = 0; i < b.length; i++) {
      const m = b[i];
      switch (m[0]) {
        case 0: settle(m[1], m[2], m[3], m[4]); break;
        case 1: invoke(m[1], fnById[m[2]], m[3] ? revive(m[4]) : m[4]); break;
        case 2: invoke(0, mainFn, []); break;
        case 3: release(m[1], m[2]); break;
        case 4: flushAll = true; break;
        case 5: FILE = m[4]; evaluate(m[1], m[2], m[3]); break;
      }
    }
    return '';
  }
  let kept = null;
  for (let r = rejected; r !== null; r = r.up) {
    if (wsHas(consumed, r.p)) continue;
    if (r.old || flushAll) put('[3,' + errInfo(r.e) + ']');
    else kept = { __proto__: null, p: r.p, e: r.e, up: kept, old: true };
  }
  rejected = kept;
  flushAll = false;
  if (kept !== null) put('[4]');
  const t = '[' + queue + ']';
  queue = '';
  return slice(t, 0);  // a flat string: the host cannot read QuickJS rope strings
}

// Stack traces: the spell's own frames, with its file name and line numbers.
function prepare(err, cs) {
  if (rawSites) return cs;  // (an API call's Error: see pendingSite)
  let s = '';
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i], ln = c.getLineNumber();
    if (!(ln > SKIP)) continue;
    const main = mainFn !== undefined && c.getFunction() === mainFn;
    const nm = main ? '<main>' : c.getFunctionName() || '<anonymous>';
    s += '    at ' + nm + ' (' + FILE + ':' + (ln - SKIP) + ':' + c.getColumnNumber() + ')\n';
  }
  return s;
}

// init(spec, source): globals (frozen, non-writable, non-configurable), then the spell.
(function init(specText, srcText) {
delete G.__llmspellInit;  // (how the host may have received this function: see _bytecode.py)
const spec = parse(specText);
FILE = spec.file;
SKIP = spec.skip;
BUDGET = spec.mem / 16;
const gdef = (name, value) => def(G, name, { __proto__: null, value });
const api = spec.f ? revive(spec.api) : spec.api;
for (let i = 0; i < api.ns.length; i++) {
  const n = api.ns[i], fns = n[1], vals = n[3], vk = keys(vals);
  let o = {};
  for (let j = 0; j < fns.length; j++) {
    const label = n[0] + '.' + fns[j][0], f = stub(fns[j][1], label, undefined, label, fns[j][2]);
    def(o, fns[j][0], { __proto__: null, value: f, enumerable: true });
  }
  for (let j = 0; j < vk.length; j++) {
    def(o, vk[j], { __proto__: null, value: deepFreeze(vals[vk[j]]), enumerable: true });
  }
  freeze(o);
  if (n[2] >= 0) {
    const dyn = n[2], dynSync = n[4], cache = new M();
    o = new Proxy(o, { __proto__: null, get(t, k, r) {
      if (typeof k !== 'string' || k === 'then' || k in t) return rget(t, k, r);
      let f = mGet(cache, k);
      if (f === undefined) { f = stub(dyn, k, k, n[0] + '.' + k, dynSync); mSet(cache, k, f); }
      return f;
    } });
  }
  gdef(n[0], o);
}
for (let i = 0; i < api.fn.length; i++) {
  const g = api.fn[i];
  gdef(g[0], stub(g[1], g[0], undefined, g[0], g[2]));
}
const gv = keys(api.val);
for (let i = 0; i < gv.length; i++) gdef(gv[i], deepFreeze(api.val[gv[i]]));
if (!hasOwn(G, 'print')) gdef('print', { print(...a) { apply(log, undefined, a); } }.print);
if (!hasOwn(G, 'console')) {
  gdef('console', freeze({ log, info: log, warn: log, error: log, debug: log }));
}
freeze(P.prototype);
freeze(P);
// Error.prepareStackTrace is an accessor into an engine slot: set it, then replace the
// accessor by a locked, empty data property (its call sites would hand out our functions).
E.prepareStackTrace = prepare;
def(E, 'prepareStackTrace', { __proto__: null, value: undefined, writable: false,
  configurable: false });

// The spell: the body of an async function (top-level await and return work).
const src = parse(srcText);
try { mainFn = new AsyncFunction(src); } catch (e) { return slice(errInfo(e), 0); }
if (fnStr(mainFn) !== 'async function anonymous(\n) {\n' + src + '\n}') {
  return '{"name":"SyntaxError","message":"unbalanced braces: the spell closes its own top level",'
    + '"stack":""}';
}
return bridge;
})
}
