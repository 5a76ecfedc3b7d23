-- custom_tool.lua — register a tool from the spell and call it three ways.
-- Run: llmspell run spells/custom_tool.lua -p city=Lisbon
local temperatures = {lisbon = 19, oslo = 4, cairo = 31}

tools.register{
  name = "weather",
  description = "Current temperature in a city, in Celsius",
  parameters = {
    {name = "city", type = "string", required = true, description = "city name"},
    {name = "unit", type = "string", enum = {"C", "F"}, description = "unit, C or F"},
  },
  handler = function(args)
    local c = temperatures[string.lower(args.city)]
    if not c then error("unknown city " .. args.city) end
    if args.unit == "F" then return {city = args.city, temperature = c * 9 / 5 + 32, unit = "F"} end
    return {city = args.city, temperature = c, unit = "C"}
  end,
}

local city = params.city or "Lisbon"
local named = tools.call("weather", {city = city})
local positional = tools.weather(city, "F")
print(("%s: %s°C, %s°F"):format(city, named.temperature, positional.temperature))

-- A tool error comes back as an error the spell can catch.
local ok, err = pcall(tools.weather, "Atlantis")
print("caught: " .. (ok and "no error?" or err))

-- An agent can use it too.
local agent = llm.agent{name = "forecaster", tools = {"weather"}}
print(agent:run("What is the weather in " .. city .. "?"))
return named
