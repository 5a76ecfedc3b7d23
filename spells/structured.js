// structured.js — structured output: an answer validated against a JSON Schema.
// Run: llmspell run spells/structured.js -p text="Ada Lovelace, 36, mathematician"
const text = params.text || "Ada Lovelace, 36, mathematician";
const schema = {
  type: "object",
  properties: {
    name: { type: "string" },
    age: { type: "integer" },
    occupation: { type: "string" },
  },
  required: ["name", "age", "occupation"],
};
const extractor = await llm.agent({
  name: "extractor",
  system: "Extract the person described as JSON.",
  schema,
});
const person = await extractor.run(text);
print(`name=${person.name} age=${person.age} occupation=${person.occupation}`);

// llm.complete takes a schema too; the decoded JSON is in .object
const r = await llm.complete({ prompt: text, schema });
print("complete: " + json.encode(r.object));
return person;
