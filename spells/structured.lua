-- structured.lua — structured output: an answer validated against a JSON Schema.
-- Run: llmspell run spells/structured.lua -p text="Ada Lovelace, 36, mathematician"
local text = params.text or "Ada Lovelace, 36, mathematician"
local schema = {
  type = "object",
  properties = {
    name = {type = "string"},
    age = {type = "integer"},
    occupation = {type = "string"},
  },
  required = {"name", "age", "occupation"},
}
local extractor = llm.agent{
  name = "extractor",
  system = "Extract the person described as JSON.",
  schema = schema,
}
local person = extractor:run(text)
print(("name=%s age=%s occupation=%s"):format(person.name, person.age, person.occupation))

-- llm.complete takes a schema too; the decoded JSON is in .object
local r = llm.complete{prompt = text, schema = schema}
print("complete: " .. json.encode(r.object))
return person
