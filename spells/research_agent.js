// research_agent.js — an agent that uses tools to answer, offline or with a real model.
// Run: llmspell run spells/research_agent.js -p question="What is 12 * 34?"
const question = params.question || "How many words are in 'the quick brown fox'? Use a tool.";

// A small knowledge base as a custom tool the agent may call.
const facts = {
  lua: "Lua was created in 1993 at PUC-Rio.",
  javascript: "JavaScript was created in 1995 by Brendan Eich.",
};
await tools.register({
  name: "lookup",
  description: "Look up a short fact about a programming language",
  parameters: { language: { type: "string", required: true, description: "language name" } },
  handler: (args) => facts[args.language.toLowerCase()] || `no fact about ${args.language}`,
});

const researcher = await llm.agent({
  name: "researcher",
  system: "You answer questions. Use the tools when they help, then answer briefly.",
  tools: ["calculator", "text_count_tokens", "lookup"],
  max_steps: 5,
});
const answer = await researcher.run(question);
// The conversation shows which tools the agent called.
const seen = [];
for (const message of await researcher.history()) {
  for (const call of message.tool_calls || []) seen.push(call.function.name);
}
print("question: " + question);
print("answer:   " + answer);
print("tools:    " + seen.join(", "));
return { answer, tools: seen };
