// hooks.js — hooks that modify requests and responses, and hooks that refuse.
// Run: llmspell run spells/hooks.js
await hooks.register(
  {
    // modify the request: every call of this spell runs cold and gets a house style
    beforeGenerate: (ctx, req) => {
      for (const m of req.messages) {
        if (m.content.includes("forbidden")) throw new Error("prompt mentions a forbidden topic");
      }
      req.temperature = 0;
      req.messages.unshift({ role: "system", content: "Answer in one line." });
      return req;
    },
    // modify the response
    afterGenerate: (ctx, req, resp) => {
      resp.content = "[checked] " + resp.content;
      return resp;
    },
    // refuse a tool call
    beforeToolCall: (ctx, tool, input) => {
      if (tool === "calculator" && input.expression.includes("**")) {
        throw new Error("no exponentiation, please");
      }
    },
  },
  { priority: 10 },
);

print((await llm.complete("Say hello")).content);

let refusedCall = false;
try {
  await llm.complete("Tell me about the forbidden topic");
} catch (err) {
  refusedCall = true;
  print("refused call: " + err.message);
}

print("2 + 2 = " + (await tools.calculator("2 + 2")));
let refusedTool = false;
try {
  await tools.calculator("2 ** 100");
} catch (err) {
  refusedTool = true;
  print("refused tool: " + err.message);
}
return { refused: refusedCall && refusedTool };
