// hello.js — the first spell: params, log, json, events and hooks.
// Run: llmspell run spells/hello.js -p name=Ada
const name = params.name || "world";
log.info("casting hello", { name });

// A hook: the spell's own handler on a hook point (here: every LLM call the spell makes).
hooks.register({
  beforeGenerate: (ctx, req) => {
    req.temperature = 0.1;
    return req;
  },
});

// An event handler. The run handles the events it emits below before it ends; under
// `llmspell serve` a spell that keeps handlers stays resident until it unsubscribes them.
const greeted = [];
const sub = await events.on("hello.*", (event, topic) => {
  if (topic === "hello.done") {
    print(`hello, ${greeted.join(", ")}! (${greeted.length} greetings heard)`);
    events.off(sub);
  } else {
    greeted.push(event.who);
    print(`heard ${topic}: ${json.encode(event)}`);
  }
});

await events.emit("hello.greeted", { who: name });
await events.emit("hello.greeted", { who: "JavaScript" });
await events.emit("hello.done", {});
return { spell: "hello", name };
