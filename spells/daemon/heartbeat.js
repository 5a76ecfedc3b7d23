// heartbeat.js — a resident spell in JavaScript: counts `heartbeat.ping` events in state and
// answers each with `heartbeat.pong`. Stops itself on `heartbeat.stop`.
// llmspell: resident
const ping = await events.on("heartbeat.ping", async (event) => {
  const n = await state.update("pings", (n) => (n || 0) + 1);
  events.emit("heartbeat.pong", { n, from: event.from || "?" });
});
events.once("heartbeat.stop", () => {
  events.off(ping);
});
log.info("heartbeat: listening");
