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
//   ``[3, fid, n]`` releases a function the host no longer holds.
// * ``bridge(2)`` returns everything queued since the last call, as JSON: ``[0, text]`` output;
//   ``[1, id, op, flagged, args]`` an API request; ``[2, inv, 1, flagged, value]`` /
//   ``[2, inv, 0, 0, error]`` an invocation's result; ``[3, error]`` a rejected API Promise
//   nobody handled; ``[5]`` output beyond the limit was dropped.
//
// Values cross as JSON text. Functions, host objects and non-finite numbers travel as one-key
// marker objects (``{"\u0000f": id}``, ``{"\u0000h": ...}``, ``{"\u0000c": [op, name]}``,
// ``{"\u0000n": "NaN"}``); user keys starting with NUL get one more NUL, and ``flagged`` says
// whether a payload needs this decoding at all. Internal records have a null prototype and
// internal lists are strings, so the bridge never looks a property up on a prototype a spell
// can change.
//
// ``PYJSON`` (compiled on first use) implements ``json.encode``/``json.decode`` inside the engine,
// because spells call them without ``await``; they mirror the runtime's Python functions, and a
// test compares the two.
'use strict';
{
const G = globalThis, O = Object, P = Promise, E = Error, D = Date, TE = TypeError;
const FP = Function.prototype, uncurry = FP.bind.bind(FP.call);
const parse = JSON.parse, quote = JSON.stringify, keys = O.keys, def = O.defineProperty;
const freeze = O.freeze, setProto = O.setPrototypeOf, isFrozen = O.isFrozen;
const isArray = Array.isArray, apply = Reflect.apply, rget = Reflect.get, hasOwn = O.hasOwn;
const then = uncurry(P.prototype.then), fnStr = uncurry(FP.toString);
const slice = uncurry(String.prototype.slice), symStr = uncurry(Symbol.prototype.toString);
const M = Map, mGet = uncurry(M.prototype.get), mSet = uncurry(M.prototype.set);
const mDel = uncurry(M.prototype.delete), iso = uncurry(D.prototype.toISOString);
const wmGet = uncurry(WeakMap.prototype.get), wmSet = uncurry(WeakMap.prototype.set);
const wsAdd = uncurry(WeakSet.prototype.add), wsHas = uncurry(WeakSet.prototype.has);
const isWF = uncurry(String.prototype.isWellFormed), code = uncurry(String.prototype.charCodeAt);
const indexOf = uncurry(String.prototype.indexOf), repeat = uncurry(String.prototype.repeat);
const toExp = uncurry(Number.prototype.toExponential), Fn = Function, PYJSON = /*PYJSON*/;
const AsyncFunction = (async function () {}).constructor, TAG = Symbol.toStringTag;
const MAXD = 200;
let FILE, SKIP, OUTMAX, JM;  // from the host's spec, set by init
const SAFE = 9007199254740992;
let queue = '', out = '', outUsed = 0, overflow = 0, seq = 0, fseq = 0, mainFn, rejected = null;
const calls = new M(), fnById = new M(), fnIds = new M(), fnSent = new M();
const hosts = new M(), foreign = new M(), hostIds = new WeakMap();
const consumed = new WeakSet(), ours = new WeakSet(), plain = new WeakSet();
const own = e => { wsAdd(ours, e); return e; };
const prop = value => ({ __proto__: null, value, writable: true, configurable: true });

function add(entry) { queue = queue === '' ? entry : queue + ',' + entry; }
function flush() { if (out !== '') { const o = out; out = ''; add('[0,' + quote(o) + ']'); } }
function put(entry) { flush(); add(entry); }
function emit(s) {
  if (overflow) return;
  if (outUsed + s.length > OUTMAX) { overflow = 1; s = slice(s, 0, OUTMAX - outUsed); }
  outUsed += s.length;
  out += s;
}

// Script values -> JSON text. st.f: markers used; chain: the objects being serialised.
function fnId(f) {
  let id = mGet(fnIds, f);
  if (id === undefined) {
    id = ++fseq;
    mSet(fnIds, f, id);
    mSet(fnById, id, f);
    mSet(fnSent, id, 0);
  }
  mSet(fnSent, id, mGet(fnSent, id) + 1);
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
    case 'bigint': return '' + v;
    case 'function': st.f = true; return '{"\\u0000f":' + fnId(v) + '}';
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
function request(op, args, name, label) {
  const site = new E(), st = { __proto__: null, f: false };
  let res, rej, text, err;
  const p = new P(function (a, b) { res = a; rej = b; });
  setProto(p, apiProto);
  try { text = serArgs(args, name, st); } catch (e) { err = e; }
  if (err !== undefined) {
    if (wsHas(ours, err)) {
      def(site, 'name', prop('TypeError'));
      def(site, 'message', prop(label + ': ' + err.message));
      err = site;
    }
    fail({ __proto__: null, p, rej }, err);
    return p;
  }
  const id = ++seq;
  mSet(calls, id, { __proto__: null, res, rej, p, site });
  put('[1,' + id + ',' + op + ',' + (st.f ? 1 : 0) + ',' + text + ']');
  return p;
}
function fail(c, e) {
  c.rej(e);
  if (!wsHas(consumed, c.p)) rejected = { __proto__: null, p: c.p, e, up: rejected };
}
function settle(id, ok, f, v) {
  const c = mGet(calls, id);
  if (c === undefined) return;
  mDel(calls, id);
  if (ok) { c.res(f ? revive(v) : v); return; }
  def(c.site, 'name', prop(v[0]));
  def(c.site, 'message', prop(v[1]));
  if (v[2]) wsAdd(plain, c.site);  // a SpellError: its message says it all (as in Lua)
  fail(c, c.site);
}
function stub(op, name, dyn, label) {
  const f = (...a) => request(op, a, dyn, label);
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
    if (k === '\0f') return mGet(fnById, x);
    if (k === '\0h') return host(x);
    if (k === '\0n') return +x;
    if (k === '\0c') {
      let f = mGet(foreign, x[0]);
      if (f === undefined) { f = stub(x[0], x[1], undefined, x[1]); mSet(foreign, x[0], f); }
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
  let o = mGet(hosts, p[0]);
  if (o !== undefined) return o;
  o = {};
  mSet(hosts, p[0], o);
  wmSet(hostIds, o, p[0]);
  const type = p[1], ms = p[2], fs = revive(p[3]), fk = keys(fs);
  for (let i = 0; i < fk.length; i++) {
    def(o, fk[i], { __proto__: null, value: fs[fk[i]], enumerable: true, configurable: true });
  }
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i][0];
    def(o, m, { __proto__: null, value: stub(ms[i][1], m, undefined, type + '.' + m) });
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
    const st = { __proto__: null, f: false };
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
  const q = new P(function (res) { res(r); });
  then(q, function (v) { done(inv, true, v); }, function (e) { done(inv, false, e); });
}
function release(fid, n) {
  const left = mGet(fnSent, fid) - n;
  if (left > 0) { mSet(fnSent, fid, left); return; }
  mDel(fnIds, mGet(fnById, fid));
  mDel(fnById, fid);
  mDel(fnSent, fid);
}
function bridge(kind, text) {
  if (kind === 1) {
    const b = parse(text);
    for (let i = 0; i < b.length; i++) {
      const m = b[i];
      switch (m[0]) {
        case 0: settle(m[1], m[2], m[3], m[4]); break;
        case 1: invoke(m[1], mGet(fnById, m[2]), m[3] ? revive(m[4]) : m[4]); break;
        case 2: invoke(0, mainFn, []); break;
        case 3: release(m[1], m[2]); break;
      }
    }
    return '';
  }
  for (let r = rejected; r !== null; r = r.up) {
    if (!wsHas(consumed, r.p)) put('[3,' + errInfo(r.e) + ']');
  }
  rejected = null;
  if (overflow === 1) { overflow = 2; put('[5]'); }
  flush();
  const t = '[' + queue + ']';
  queue = '';
  return slice(t, 0);  // a flat string: the host cannot read QuickJS rope strings
}

// Stack traces: the spell's own frames, with its file name and line numbers.
function prepare(err, cs) {
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

// json.encode/decode: see PYJSON; compiled on first use (most spells never call them).
let pyjson = null;
function pyjsonFn(name) {
  const f = (...a) => {
    if (pyjson === null) {
      pyjson = new Fn('deps', PYJSON)({ __proto__: null, quote, parse, slice, keys, def,
        isArray, prop, wmGet, wsAdd, wsHas, hostIds, plain, ours, own, D, E, TE, iso, errText,
        str, isWF, code, indexOf, repeat, toExp, SAFE, MAXD, JM });
    }
    return apply(pyjson[name], undefined, a);
  };
  def(f, 'name', { value: 'json.' + name });
  return f;
}

// init(spec, source): globals (frozen, non-writable, non-configurable), then the spell.
(function init(specText, srcText) {
const spec = parse(specText);
FILE = spec.file;
SKIP = spec.skip;
OUTMAX = spec.out;
JM = spec.jm;
const gdef = (name, value) => def(G, name, { __proto__: null, value });
const api = spec.f ? revive(spec.api) : spec.api;
for (let i = 0; i < api.ns.length; i++) {
  const n = api.ns[i], fns = n[1], vals = n[3], vk = keys(vals);
  let o = {};
  for (let j = 0; j < fns.length; j++) {
    const label = n[0] + '.' + fns[j][0];
    const f = fns[j][2] ? pyjsonFn(fns[j][0]) : stub(fns[j][1], label, undefined, label);
    def(o, fns[j][0], { __proto__: null, value: f, enumerable: true });
  }
  for (let j = 0; j < vk.length; j++) {
    def(o, vk[j], { __proto__: null, value: deepFreeze(vals[vk[j]]), enumerable: true });
  }
  freeze(o);
  if (n[2] >= 0) {
    const dyn = n[2], cache = new M();
    o = new Proxy(o, { __proto__: null, get(t, k, r) {
      if (typeof k !== 'string' || k === 'then' || k in t) return rget(t, k, r);
      let f = mGet(cache, k);
      if (f === undefined) { f = stub(dyn, k, k, n[0] + '.' + k); mSet(cache, k, f); }
      return f;
    } });
  }
  gdef(n[0], o);
}
for (let i = 0; i < api.fn.length; i++) {
  gdef(api.fn[i][0], stub(api.fn[i][1], api.fn[i][0], undefined, api.fn[i][0]));
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
