-- triage.lua — a resident spell: it answers each `ticket.opened` event with `ticket.triaged`.
-- Try it: curl -XPOST localhost:8321/events/ticket.opened -d '{"id": 7, "text": "server down"}'
-- llmspell: resident, cpu_seconds=1, timeout=60
events.on("ticket.opened", function(ticket)
  local text = tostring(ticket.text or "")
  local reply = llm.complete{
    system = "Classify the support ticket as bug, question or outage. One word.",
    prompt = text,
    max_tokens = 5,
  }
  local lower = text:lower()
  local urgent = lower:find("down", 1, true) ~= nil or lower:find("fire", 1, true) ~= nil
  events.emit("ticket.triaged", {id = ticket.id, urgent = urgent, model = reply.model})
end)
log.info("triage: listening on ticket.opened")
