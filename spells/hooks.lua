-- hooks.lua — hooks that modify requests and responses, and hooks that refuse.
-- Run: llmspell run spells/hooks.lua
hooks.register({
  -- modify the request: every call of this spell runs cold and gets a house style
  beforeGenerate = function(ctx, req)
    for _, m in ipairs(req.messages) do
      if m.content:find("forbidden") then error("prompt mentions a forbidden topic") end
    end
    req.temperature = 0
    table.insert(req.messages, 1, {role = "system", content = "Answer in one line."})
    return req
  end,
  -- modify the response
  afterGenerate = function(ctx, req, resp)
    resp.content = "[checked] " .. resp.content
    return resp
  end,
  -- refuse a tool call
  beforeToolCall = function(ctx, tool, input)
    if tool == "calculator" and input.expression:find("%*%*") then
      error("no exponentiation, please")
    end
  end,
}, {priority = 10})

print(llm.complete("Say hello").content)

local ok, err = pcall(llm.complete, "Tell me about the forbidden topic")
print("refused call: " .. tostring(err))

print("2 + 2 = " .. tools.calculator("2 + 2"))
local ok2, err2 = pcall(tools.calculator, "2 ** 100")
print("refused tool: " .. tostring(err2))
return {refused = not ok and not ok2}
