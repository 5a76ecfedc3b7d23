-- streaming.lua — print a model's answer as it arrives.
-- Run: llmspell run spells/streaming.lua -p topic=octopuses
local topic = params.topic or "octopuses"
local pieces = 0
local response = llm.stream({
  system = "You are a concise science writer.",
  prompt = "Write two sentences about " .. topic .. ".",
}, function(text)
  pieces = pieces + 1
  print("chunk " .. pieces .. ": " .. text)
end)
print(("done: %d chunks, %d tokens, model %s"):format(pieces, response.usage.total_tokens, response.model))
return {chunks = pieces, content = response.content}
