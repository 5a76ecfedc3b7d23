-- research_agent.lua — an agent that uses tools to answer, offline or with a real model.
-- Run: llmspell run spells/research_agent.lua -p question="What is 12 * 34?"
local question = params.question or "How many words are in 'the quick brown fox'? Use a tool."

-- A small knowledge base as a custom tool the agent may call.
local facts = {
  lua = "Lua was created in 1993 at PUC-Rio.",
  javascript = "JavaScript was created in 1995 by Brendan Eich.",
}
tools.register{
  name = "lookup",
  description = "Look up a short fact about a programming language",
  parameters = {language = {type = "string", required = true, description = "language name"}},
  handler = function(args)
    return facts[string.lower(args.language)] or ("no fact about " .. args.language)
  end,
}

local researcher = llm.agent{
  name = "researcher",
  system = "You answer questions. Use the tools when they help, then answer briefly.",
  tools = {"calculator", "text_count_tokens", "lookup"},
  max_steps = 5,
}
local answer = researcher:run(question)
-- The conversation shows which tools the agent called.
local seen = {}
for _, message in ipairs(researcher:history()) do
  for _, call in ipairs(message.tool_calls or {}) do
    seen[#seen + 1] = call["function"].name
  end
end
print("question: " .. question)
print("answer:   " .. answer)
print("tools:    " .. table.concat(seen, ", "))
return {answer = answer, tools = seen}
