// json.encode / json.decode inside the engine (see _pyjson.py): the body of a function taking
// `deps`, the prelude's captured built-ins, compiled on a spell's first json call.
'use strict';
const { quote, parse, slice, keys, def, isArray, prop, wmGet, wsAdd, wsHas, hostIds, plain, ours,
  own, D, E, TE, iso, errText, str, isWF, code, indexOf, repeat, toExp, SAFE, MAXD, JM } = deps;
// json.encode/decode run here (a spell uses them without await), giving exactly what the
// host's functions give: json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys,
// compact or indent=2) / json.loads(text) of the value as the host would have received it.
const NAN = '\u0000\u0001nan:';
function paramError(fn, param, problem) {
  const e = new E();
  def(e, 'name', prop('ParameterError'));
  def(e, 'message', prop(fn + ": parameter '" + param + "' " + problem));
  wsAdd(plain, e);
  return e;
}
function notEncodable(key, ind) {  // the host's own error for this kind of value
  const m = JM[(ind === null ? '' : 'p') + key];
  if (m === null || m === undefined) return paramError('json.encode', 'value', 'cannot be encoded');
  const e = new E();
  def(e, 'name', prop(m[0]));
  def(e, 'message', prop(m[1]));
  if (m[2]) wsAdd(plain, e);
  return e;
}
function pyStr(s) {
  if (isWF(s)) return quote(s);
  let r = '', run = 0;  // Python writes lone surrogates as they are
  for (let i = 0; i < s.length; i++) {
    const c = code(s, i);
    if (c < 0xDC00 && c >= 0xD800 && (code(s, i + 1) & 0xFC00) === 0xDC00) { i++; continue; }
    if ((c & 0xF800) === 0xD800) {
      r += slice(quote(slice(s, run, i)), 1, -1) + slice(s, i, i + 1);
      run = i + 1;
    }
  }
  return '"' + r + slice(quote(slice(s, run)), 1, -1) + '"';
}
// Python's repr(float): the shortest digits that read back as x, the nearest to x of those,
// an exact tie going to the even digit. (QuickJS's own shortest form is not always shortest:
// it gives 5.9604644775390625e-8 for 2 ** -24, Python 5.960464477539063e-08.)
function expo(x, f) {  // |x|.toExponential(f) as [digits, decimal point position]
  const t = toExp(x, f), at = indexOf(t, 'e'), m = slice(t, x < 0 ? 1 : 0, at);
  return [m.length > 1 ? m[0] + slice(m, 2) : m, +slice(t, at + 1) + 1];
}
function value(neg, d) {
  return +(neg + d[0][0] + '.' + slice(d[0], 1) + 'e' + (d[1] - 1));
}
function step(d, by) {  // the next decimal of as many digits, up (by = 1) or down in magnitude
  let s = d[0], i = s.length - 1;
  const lo = by > 0 ? '9' : '0', hi = by > 0 ? '0' : '9';
  while (i >= 0 && s[i] === lo) i--;
  if (i < 0) return by > 0 ? ['1' + repeat('0', s.length - 1), d[1] + 1] : d;
  s = slice(s, 0, i) + (code(s, i) - 48 + by) + repeat(hi, s.length - 1 - i);
  return s[0] === '0' ? [slice(s, 1) + '9', d[1] - 1] : [s, d[1]];
}
function around(x, p) {  // the p-digit decimal nearest x that reads back as x, or null
  const neg = x < 0 ? '-' : '', near = expo(x, p - 1), exact = expo(x, p + 24);
  const below = near[1] === exact[1] && slice(exact[0], 0, p) === near[0];  // |near| <= |x|
  const other = step(near, below ? 1 : -1);
  const nearOk = value(neg, near) === x, otherOk = value(neg, other) === x;
  if (!otherOk) return nearOk ? near : null;
  if (!nearOk) return other;
  let tie = exact[0][p] === '5';  // both read back: the nearer, or on a tie the even one
  for (let i = p + 1; tie && i < exact[0].length; i++) tie = exact[0][i] === '0';
  return tie && (code(near[0], p - 1) & 1) ? other : near;
}
function pyFloat(x) {
  let lo = 1, hi = 17;  // reading back is monotonic in the number of digits
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (around(x, mid) !== null) hi = mid; else lo = mid + 1;
  }
  let [digits, dp] = around(x, lo), n = digits.length;
  while (n > 1 && digits[n - 1] === '0') n--;
  digits = slice(digits, 0, n);
  const neg = x < 0 ? '-' : '';
  if (dp > -4 && dp <= 16) {
    if (dp <= 0) return neg + '0.' + repeat('0', -dp) + digits;
    if (dp >= digits.length) return neg + digits + repeat('0', dp - digits.length) + '.0';
    return neg + slice(digits, 0, dp) + '.' + slice(digits, dp);
  }
  const ex = dp - 1, ax = ex < 0 ? -ex : ex;
  return neg + (digits.length > 1 ? digits[0] + '.' + slice(digits, 1) : digits) + 'e'
    + (ex < 0 ? '-' : '+') + (ax < 10 ? '0' : '') + ax;
}
function pyEnc(v, d, chain, ind) {
  switch (typeof v) {
    case 'string': return pyStr(v);
    case 'number':
      if (v - v !== 0) throw notEncodable(v !== v ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity', ind);
      return v % 1 === 0 && v <= SAFE && v >= -SAFE ? '' + v : pyFloat(v);
    case 'boolean': return v ? 'true' : 'false';
    case 'bigint': return '' + v;
    case 'function': throw notEncodable('fn', ind);
    case 'object': if (v === null) return 'null'; break;
    default: return 'null';
  }
  if (wmGet(hostIds, v) !== undefined) throw notEncodable('host', ind);
  if (v instanceof D) { try { return pyStr(iso(v)); } catch (e) { return 'null'; } }
  if (v instanceof E) return pyStr(errText(v));
  if (d > MAXD) throw own(new TE('value nested more than ' + MAXD + ' levels deep'));
  for (let c = chain; c !== null; c = c.up) {
    if (c.v === v) throw own(new TE('cannot convert a cyclic structure'));
  }
  chain = { __proto__: null, v, up: chain };
  const inner = ind === null ? null : ind + '  ', sep = inner === null ? ',' : ',' + inner;
  let s = '', n = 0;
  if (isArray(v)) {
    for (let i = 0; i < v.length; i++) s += (n++ ? sep : '') + pyEnc(v[i], d + 1, chain, inner);
    if (n === 0) return '[]';
    return inner === null ? '[' + s + ']' : '[' + inner + s + ind + ']';
  }
  const ks = sortKeys(keys(v));
  for (let i = 0; i < ks.length; i++) {
    const x = v[ks[i]];
    if (x === undefined) continue;
    s += (n++ ? sep : '') + pyStr(ks[i]) + (inner === null ? ':' : ': ')
      + pyEnc(x, d + 1, chain, inner);
  }
  if (n === 0) return '{}';
  return inner === null ? '{' + s + '}' : '{' + inner + s + ind + '}';
}
function unit(s, i) {  // UTF-16 unit remapped so that unit order is code point order
  const c = code(s, i);
  return c >= 0xe000 ? c - 0x800 : c >= 0xd800 ? c + 0x2000 : c;
}
function before(a, b) {  // Python's str order (by code point)
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const x = unit(a, i), y = unit(b, i);
    if (x !== y) return x < y;
  }
  return a.length < b.length;
}
function sortKeys(ks) {  // json.encode sorts keys (sort_keys=True); a merge sort, no prototypes
  if (ks.length < 2) return ks;
  const mid = ks.length >> 1, l = [], r = [], out = [];
  for (let i = 0; i < ks.length; i++) (i < mid ? l : r)[i < mid ? i : i - mid] = ks[i];
  const a = sortKeys(l), b = sortKeys(r);
  let i = 0, j = 0, k = 0;
  while (i < a.length && j < b.length) out[k++] = before(b[j], a[i]) ? b[j++] : a[i++];
  while (i < a.length) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
  return out;
}
function pyTruthy(v) {
  switch (typeof v) {
    case 'number': return v !== 0;  // NaN is true in Python
    case 'object':
      if (v === null) return false;
      if (wmGet(hostIds, v) !== undefined || v instanceof D || v instanceof E) return true;
      if (isArray(v)) return v.length > 0;
      for (let i = 0, ks = keys(v); i < ks.length; i++) if (v[ks[i]] !== undefined) return true;
      return false;
    case 'symbol': case 'undefined': return false;
    default: return !!v;
  }
}
function pyKind(v) {  // the host's name for what it would have received, or null for a string
  switch (typeof v) {
    case 'string': return null;
    case 'boolean': return 'a boolean';
    case 'number': return v % 1 === 0 && v <= SAFE && v >= -SAFE ? 'int' : 'float';
    case 'bigint': return 'int';
    case 'function': return JM.fnType;
    case 'object':
      if (v === null) return 'NoneType';
      if (wmGet(hostIds, v) !== undefined) return JM.hostType;
      if (v instanceof D || v instanceof E) return null;
      return isArray(v) ? 'a list' : 'a table';
    default: return 'NoneType';
  }
}
function pyRevive(k, v) {
  if (typeof v !== 'string' || slice(v, 0, NAN.length) !== NAN) return v;
  return +slice(v, NAN.length);
}
function pyLoads(text) {
  try { return parse(text); } catch (e) { /* maybe Python's NaN / Infinity / -Infinity */ }
  let s = '', run = 0, str = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (str) { if (c === '\\') i++; else if (c === '"') str = false; continue; }
    if (c === '"') { str = true; continue; }
    const tok = c === 'N' ? 'NaN' : c === 'I' ? 'Infinity' : c === '-' ? '-Infinity' : '';
    if (tok !== '' && slice(text, i, i + tok.length) === tok) {
      s += slice(text, run, i) + quote(NAN + tok);
      i += tok.length - 1;
      run = i + 1;
    }
  }
  return parse(s + slice(text, run), pyRevive);
}
return {
  __proto__: null,
  encode: { encode(value, pretty) {
    try {
      return pyEnc(value, 1, null, pyTruthy(pretty) ? '\n' : null);
    } catch (e) {
      if (!wsHas(ours, e)) throw e;
      throw new TE('json.encode: ' + e.message);
    }
  } }.encode,
  decode: { decode(text) {
    const kind = pyKind(text);
    if (kind !== null) throw paramError('json.decode', 'text', 'must be a string, not ' + kind);
    if (typeof text !== 'string') text = str(text);
    try { return pyLoads(text); } catch (e) {
      throw paramError('json.decode', 'text', 'is not valid JSON: ' + str(e.message));
    }
  } }.decode,
};
