// Compiles every example of schemas/examples/ against the TypeScript declarations
// (schemas/typescript/index.d.ts) with `tsc --strict`: each example, as an object
// literal, must be assignable to the type the index names for its topic (no excess
// key, no wrong type). A few statements beside them must fail to compile, each marked
// `@ts-expect-error` (tsc reports a marked line that compiles): a misspelled key, a
// string for a number, an unknown method; and a `Device[]` must be assignable to
// `devices`, and a switch over `KnownTaskStatus` exhaustive. And each schema of
// schemas/json/, compiled alone, declares every type once.
// From the repository root: node tools/check-typescript.mjs
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const tools = dirname(fileURLToPath(import.meta.url));
const root = dirname(tools);
const schemas = join(root, "schemas");
const index = JSON.parse(readFileSync(join(schemas, "index.json"), "utf8"));
const out = join(tools, "out", "typescript-check");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const declarations = relative(out, join(schemas, "typescript", "index")).replaceAll("\\", "/");

const lines = [];
const used = new Set();
let count = 0;
for (const topic of readdirSync(join(schemas, "examples")).sort()) {
  const entry = index.messages.find((e) => e.topic === `thing/product/{sn}/${topic}`);
  if (!entry) throw new Error(`schemas/examples/${topic}: no index entry`);
  used.add(entry.name);
  for (const file of readdirSync(join(schemas, "examples", topic)).sort()) {
    const text = readFileSync(join(schemas, "examples", topic, file), "utf8");
    lines.push(`// ${topic}/${file}`);
    lines.push(`export const example${count++}: T.${entry.name} = ${text.trim()};`);
  }
}
if (count === 0) throw new Error("no examples");

const expectations = `
// A Device[] is what \`devices\` takes (not a tuple).
const devices: T.Device[] = [];
export const create: T.OtaCreate = { devices };
// The known values are a type of their own: a switch over them is exhaustive.
export function final(status: T.KnownTaskStatus): boolean {
  switch (status) {
    case "sent": case "in_progress": case "paused": return false;
    case "ok": case "rejected": case "failed": case "canceled": case "timeout": case "partially_done": return true;
    default: { const never: never = status; return never; }
  }
}
// An open enum takes any other value too.
export const other: T.TaskStatus = "queued";
// @ts-expect-error a misspelled key does not compile
export const misspelled: T.ProgressOutput = { stauts: "ok" };
// @ts-expect-error an extra key beside the right ones does not compile
export const extra: T.ProgressOutput = { status: "ok", stauts: "ok" };
// @ts-expect-error a percent as a string does not compile
export const text: T.Progress = { percent: "10" };
// @ts-expect-error another method does not compile
export const method: T.OtaProgressMessage["method"] = "hms";
`;

// A generator pointed at the folder of schemas declares each type once: no copy of a
// type under a numbered name (`TaskStatus1`, `Id2`) in the file of any schema.
const { compile } = await import("json-schema-to-typescript");
const folder = join(schemas, "json");
for (const file of readdirSync(folder).sort()) {
  const schema = JSON.parse(readFileSync(join(folder, file), "utf8"));
  const text = await compile(schema, file, { additionalProperties: false, cwd: folder });
  const names = new Set([...text.matchAll(/^export (?:type|interface) (\w+)/gm)].map((m) => m[1]));
  const copies = [...names].filter((n) => /\d+$/.test(n) && names.has(n.replace(/\d+$/, "")));
  if (copies.length > 0) throw new Error(`schemas/json/${file}: types declared twice: ${copies}`);
}

const source = `import type * as T from "${declarations}";\n\n${lines.join("\n")}\n${expectations}`;
writeFileSync(join(out, "examples.ts"), source);
const tsc = join(tools, "node_modules", "typescript", "bin", "tsc");
execFileSync(
  process.execPath,
  [tsc, "--strict", "--noEmit", "--target", "es2022", "--module", "commonjs",
   join(out, "examples.ts")],
  { stdio: "inherit" },
);
console.log(
  `TypeScript declarations (tsc --strict): ${count} examples compile as ${[...used].sort().join(", ")}; ` +
    "misspelled keys and wrong types do not; each schema alone declares every type once",
);
