// observed.js — spans and metrics of a small agent run.
// Run: llmspell run spells/observed.js --trace
//      llmspell run spells/observed.js --metrics-port 9464   (then curl 127.0.0.1:9464/metrics)

// Every tool call publishes tool.executed; count them as a spell metric
// (llmspell_spell_tool_usage_total{tool, success} and llmspell_spell_tool_usage_duration).
events.on("tool.executed", (event) => {
  metrics.record("tool_usage", {tool: event.toolName, success: event.success,
                                duration: event.duration});
});

const helper = await llm.agent({name: "helper", tools: ["calculator"]});
const answer = await helper.run(params.question || "What is 6*7? Use the calculator.");
metrics.inc("answers", {agent: "helper"});
metrics.set("answer_length", answer.length);
print(answer);
return answer;
