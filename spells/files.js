// files.js — file tools inside a workspace, granted by a permission.
// Run: llmspell run spells/files.js --allow fs.read --workspace spells
let entries;
try {
  entries = await tools.file_list({ pattern: "hello.*" });
} catch (err) {
  // without --allow fs.read the risky tools are denied, and the error says how to grant them
  print("not granted: " + err.message);
  return { granted: false };
}
print("found: " + entries.map((entry) => entry.name).join(", "));
print("hello.lua starts with: " + (await tools.file_read("hello.lua")).split("\n")[0]);

// The workspace is a fence: a path leading out of it is refused.
try {
  await tools.file_read("../README.md");
  print("refused: no refusal?");
} catch (err) {
  print("refused: " + err.message);
}
return { granted: true, found: entries.length };
