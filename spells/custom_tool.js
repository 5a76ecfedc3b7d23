// custom_tool.js — register a tool from the spell and call it three ways.
// Run: llmspell run spells/custom_tool.js -p city=Lisbon
const temperatures = { lisbon: 19, oslo: 4, cairo: 31 };

await tools.register({
  name: "weather",
  description: "Current temperature in a city, in Celsius",
  parameters: [
    { name: "city", type: "string", required: true, description: "city name" },
    { name: "unit", type: "string", enum: ["C", "F"], description: "unit, C or F" },
  ],
  handler: (args) => {
    const c = temperatures[args.city.toLowerCase()];
    if (c === undefined) throw new Error("unknown city " + args.city);
    if (args.unit === "F") return { city: args.city, temperature: (c * 9) / 5 + 32, unit: "F" };
    return { city: args.city, temperature: c, unit: "C" };
  },
});

const city = params.city || "Lisbon";
const named = await tools.call("weather", { city });
const positional = await tools.weather(city, "F");
print(`${city}: ${named.temperature}°C, ${positional.temperature}°F`);

// A tool error comes back as an error the spell can catch.
try {
  await tools.weather("Atlantis");
  print("caught: no error?");
} catch (err) {
  print("caught: " + err.message);
}

// An agent can use it too.
const agent = await llm.agent({ name: "forecaster", tools: ["weather"] });
print(await agent.run("What is the weather in " + city + "?"));
return named;
