-- hello.lua — the first spell: params, log, json, events and hooks.
-- Run: llmspell run spells/hello.lua -p name=Ada
local name = params.name or "world"
log.info("casting hello", {name = name})

-- A hook: the spell's own handler on a hook point (here: every LLM call the spell makes).
hooks.register({
  beforeGenerate = function(ctx, req)
    req.temperature = 0.1
    return req
  end,
})

-- An event handler. The run handles the events it emits below before it ends; under
-- `llmspell serve` a spell that keeps handlers stays resident until it unsubscribes them.
local greeted = {}
local sub
sub = events.on("hello.*", function(event, topic)
  if topic == "hello.done" then
    print(("hello, %s! (%d greetings heard)"):format(table.concat(greeted, ", "), #greeted))
    events.off(sub)
  else
    greeted[#greeted + 1] = event.who
    print(("heard %s: %s"):format(topic, json.encode(event)))
  end
end)

events.emit("hello.greeted", {who = name})
events.emit("hello.greeted", {who = "Lua"})
events.emit("hello.done", {})
return {spell = "hello", name = name}
