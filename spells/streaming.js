// streaming.js — print a model's answer as it arrives.
// Run: llmspell run spells/streaming.js -p topic=octopuses
const topic = params.topic || "octopuses";
let pieces = 0;
const response = await llm.stream(
  {
    system: "You are a concise science writer.",
    prompt: "Write two sentences about " + topic + ".",
  },
  (text) => {
    pieces += 1;
    print("chunk " + pieces + ": " + text);
  },
);
print(`done: ${pieces} chunks, ${response.usage.total_tokens} tokens, model ${response.model}`);
return { chunks: pieces, content: response.content };
