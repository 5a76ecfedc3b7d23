-- files.lua — file tools inside a workspace, granted by a permission.
-- Run: llmspell run spells/files.lua --allow fs.read --workspace spells
local ok, entries = pcall(tools.file_list, {pattern = "hello.*"})
if not ok then
  -- without --allow fs.read the risky tools are denied, and the error says how to grant them
  print("not granted: " .. entries)
  return {granted = false}
end
local names = {}
for _, entry in ipairs(entries) do names[#names + 1] = entry.name end
print("found: " .. table.concat(names, ", "))
print("hello.lua starts with: " .. tools.file_read("hello.lua"):match("[^\n]*"))

-- The workspace is a fence: a path leading out of it is refused.
local inside, err = pcall(tools.file_read, "../README.md")
print("refused: " .. (inside and "no refusal?" or err))
return {granted = true, found = #names}
