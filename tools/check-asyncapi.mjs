// Parses schemas/asyncapi.yaml with the AsyncAPI parser (@asyncapi/parser), which
// validates it against the AsyncAPI 3 specification and resolves its references to the
// JSON Schemas in schemas/json/. Fails on any diagnostic of severity error, and checks
// that the document describes what the index lists: a channel per topic with the {sn}
// parameter, a message per entry, a send and a receive operation per message, QoS 1,
// and a reply for each request.
// From the repository root: node tools/check-asyncapi.mjs
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Parser, fromFile } from "@asyncapi/parser";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const file = join(root, "schemas", "asyncapi.yaml");
const index = JSON.parse(readFileSync(join(root, "schemas", "index.json"), "utf8"));

const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, file).parse();
const failures = [];
const severities = ["error", "warning", "information", "hint"];
for (const d of diagnostics) {
  const line = `${severities[d.severity]}: ${d.code}: ${d.message} at ${d.path.join("/")}`;
  if (d.severity === 0) failures.push(line);
  else console.log(`  (${line})`);
}
if (document === undefined) {
  console.error("AsyncAPI: FAILED\n  " + failures.join("\n  "));
  process.exit(1);
}

const byAddress = new Map(document.channels().all().map((c) => [c.address(), c]));
let operations = 0;
let replies = 0;
for (const entry of index.messages) {
  const channel = byAddress.get(entry.topic);
  if (!channel) {
    failures.push(`${entry.topic}: no channel`);
    continue;
  }
  if (!channel.parameters().has("sn")) failures.push(`${entry.topic}: no {sn} parameter`);
  const names = channel.messages().all().map((m) => m.name());
  if (names.join() !== entry.name) failures.push(`${entry.topic}: messages ${names}`);
  const ops = channel.operations().all();
  const actions = ops.map((o) => o.action()).sort().join();
  if (actions !== "receive,send") failures.push(`${entry.topic}: operations ${actions}`);
  for (const op of ops) {
    operations++;
    const qos = op.bindings().get("mqtt")?.value()?.qos;
    if (qos !== 1) failures.push(`${op.id()}: QoS ${qos}`);
    const reply = op.reply();
    const replyAddress = reply?.channel()?.address();
    const expected = index.messages.find((e) => e.name === entry.reply)?.topic;
    if (replyAddress !== expected) failures.push(`${op.id()}: reply on ${replyAddress}, not ${expected}`);
    if (reply) replies++;
  }
  // The payload is the schema of the index, resolved.
  const payload = channel.messages().all()[0].payload();
  if (payload?.title() !== entry.name) failures.push(`${entry.topic}: payload titled ${payload?.title()}`);
}
if (failures.length > 0 || operations === 0 || replies === 0) {
  console.error("AsyncAPI: FAILED\n  " + failures.join("\n  "));
  process.exit(1);
}
console.log(
  `AsyncAPI (@asyncapi/parser): schemas/asyncapi.yaml is valid AsyncAPI ${document.version()}: ` +
    `${byAddress.size} channels, ${operations} operations, ${replies} with a reply`,
);
