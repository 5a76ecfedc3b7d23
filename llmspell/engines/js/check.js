// llmspell check: compiles a spell as the body of an async function, without running it.
// Returns '' when it compiles, else the error and its stack (see _errors.compile_check).
(function (srcText) {
  const AsyncFunction = (async function () {}).constructor, src = JSON.parse(srcText);
  let f;
  try { f = new AsyncFunction(src); } catch (e) { return String(e) + '\n' + e.stack; }
  if (Function.prototype.toString.call(f) !== 'async function anonymous(\n) {\n' + src + '\n}') {
    return 'SyntaxError: unbalanced braces: the spell closes its own top level\n';
  }
  return '';
})
