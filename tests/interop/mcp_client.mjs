// The official MCP TypeScript SDK's client driving `retake-chat mcp` (a client nobody on
// this project wrote): list the tools, take, reply, ack, wait, and one refused call. Each
// step's outcome is one JSON line on stdout, `{"step", "result"}`; before the wait it prints
// `{"step": "waiting"}`, so the test can queue a question while the call is in flight.
//
//   node mcp_client.mjs --bin PATH --state-dir DIR   (RETAKE_* settings from the environment)

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

function arg(name) {
  const at = process.argv.indexOf(name);
  if (at < 0 || at + 1 >= process.argv.length) {
    throw new Error(`missing ${name}`);
  }
  return process.argv[at + 1];
}

function report(step, result) {
  process.stdout.write(JSON.stringify({ step, result }) + "\n");
}

const transport = new StdioClientTransport({
  command: arg("--bin"),
  args: ["mcp", "--state-dir", arg("--state-dir")],
  // Only what the test set: no credentials of the machine's.
  env: Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => name.startsWith("RETAKE_") || ["PATH", "HOME"].includes(name),
    ),
  ),
  stderr: "inherit",
});
const client = new Client({ name: "retake-chat-interop", version: "1.0.0" });
await client.connect(transport);

const server = client.getServerVersion();
report("connected", { server, instructions: client.getInstructions() });
const { tools } = await client.listTools();
report("tools", tools.map((tool) => ({ name: tool.name, inputSchema: tool.inputSchema })));

const taken = await client.callTool({ name: "chat_take", arguments: { max: 5 } });
report("take", taken);
const ids = (taken.structuredContent?.items ?? []).map((item) => item.id);

report(
  "reply",
  await client.callTool({
    name: "chat_reply",
    arguments: { text: "Answered from TypeScript", ack: ids.slice(0, 1) },
  }),
);
report("ack", await client.callTool({ name: "chat_ack", arguments: { ids: ids.slice(1) } }));
report("waiting", null);
report("wait", await client.callTool({ name: "chat_wait", arguments: { timeout_secs: 20 } }));
report("take-again", await client.callTool({ name: "chat_take", arguments: {} }));
report("refused", await client.callTool({ name: "chat_reply", arguments: { text: "" } }));
await client.close();
report("closed", null);
