-- greet.lua — served over HTTP: POST /spells/greet/run with {"name": "Ada"}.
-- llmspell: concurrency=8, timeout=10
local name = params.name or "world"
local count = state.update("greetings", function(n) return (n or 0) + 1 end)
print("hello, " .. name)
log.info("greeted", {name = name, count = count})
return {greeting = "hello, " .. name, greetings = count}
