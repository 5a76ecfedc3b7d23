-- observed.lua — spans and metrics of a small agent run.
-- Run: llmspell run spells/observed.lua --trace
--      llmspell run spells/observed.lua --metrics-port 9464   (then curl 127.0.0.1:9464/metrics)

-- Every tool call publishes tool.executed; count them as a spell metric
-- (llmspell_spell_tool_usage_total{tool, success} and llmspell_spell_tool_usage_duration).
events.on("tool.executed", function(event)
  metrics.record("tool_usage", {tool = event.toolName, success = event.success,
                                duration = event.duration})
end)

local helper = llm.agent{name = "helper", tools = {"calculator"}}
local answer = helper:run(params.question or "What is 6*7? Use the calculator.")
metrics.inc("answers", {agent = "helper"})
metrics.set("answer_length", #answer)
print(answer)
return answer
