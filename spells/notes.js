// notes.js — state that survives runs: a note list, an atomic counter, scopes, a transform.
// Run: llmspell run spells/notes.js -p add="buy milk"   (run it again: the notes are still there)
// Then: llmspell state get notes --scope spell:notes

// The spell's own scope (spell:notes): read, change, write back.
const notes = (await state.get("notes")) ?? [];
if (params.add) {
  notes.push({text: params.add, at: new Date().toISOString().replace(/\.\d+Z$/, "Z")});
  await state.set("notes", notes);
}

// update() is atomic: two runs at once both count. The function may run more than once.
const runs = await state.update("stats.runs", (n) => (n ?? 0) + 1);

// state.global is shared by every spell; state.scope(name) is any other scope.
await state.global.set("last_spell", "notes");
await (await state.scope("user:" + (params.user ?? "me"))).set("note_count", notes.length);

notes.forEach((note, i) => print(`${i + 1}. ${note.text}`));
print(`${notes.length} note(s), run #${runs}`);

// A separate store in memory: flatten turns nested values into dot-path keys.
const scratch = await state.create({persistence: "memory"});
await scratch.set("stats", await state.get("stats"));
const flat = await scratch.transform({type: "flatten"});
return {keys: await flat.keys(), runs: await flat.get("stats.runs")};
