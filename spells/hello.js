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

// An event handler. Because it is still subscribed when the main code returns, the spell
// stays resident and keeps handling events until the handler unsubscribes itself.
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
