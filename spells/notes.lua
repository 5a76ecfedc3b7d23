-- notes.lua — state that survives runs: a note list, an atomic counter, scopes, a transform.
-- Run: llmspell run spells/notes.lua -p add="buy milk"   (run it again: the notes are still there)
-- Then: llmspell state get notes --scope spell:notes

-- The spell's own scope (spell:notes): read, change, write back.
local notes = state.get("notes") or {}
if params.add then
  notes[#notes + 1] = {text = params.add, at = os.date("!%Y-%m-%dT%H:%M:%SZ")}
  state.set("notes", notes)
end

-- update() is atomic: two runs at once both count. The function may run more than once.
local runs = state.update("stats.runs", function(n) return (n or 0) + 1 end)

-- state.global is shared by every spell; state.scope(name) is any other scope.
state.global:set("last_spell", "notes")
state.scope("user:" .. (params.user or "me")):set("note_count", #notes)

for i, note in ipairs(notes) do
  print(("%d. %s"):format(i, note.text))
end
print(("%d note(s), run #%d"):format(#notes, runs))

-- A separate store in memory: flatten turns nested values into dot-path keys.
local scratch = state.create{persistence = "memory"}
scratch:set("stats", state.get("stats"))
local flat = scratch:transform{type = "flatten"}
return {keys = flat:keys(), runs = flat:get("stats.runs")}
