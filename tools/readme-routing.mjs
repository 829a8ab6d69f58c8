// Runs the README's TypeScript routing code (the ```ts block that defines `problems`)
// over every example of schemas/examples/ (each must be routed to its schema and valid),
// over the rule-breaking messages of tests/fixtures/breaks_a_rule/ (each must be routed
// and refused) and over the messages of tests/fixtures/not_ota/ on an OTA topic (none
// may be routed).
//
// The code is compiled as the README shows it, with `tsc --strict`, and run with node.
// From the repository root: node tools/readme-routing.mjs
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const tools = dirname(fileURLToPath(import.meta.url));
const root = dirname(tools);
const readme = readFileSync(join(root, "README.md"), "utf8");
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
const routing = blocks.filter((code) => code.includes("function problems("));
if (routing.length !== 1) {
  throw new Error(`README.md: expected one TypeScript block defining problems(), found ${routing.length}`);
}

const harness = `
// ---- the check, appended to the README's code ----
import { readdirSync } from "node:fs";

const gateway = "4TADKAQ000002J";
const failures: string[] = [];
const files = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
const load = (path: string) => JSON.parse(readFileSync(path, "utf8"));
let valid = 0;
let refused = 0;
let other = 0;
for (const topic of readdirSync("schemas/examples").sort()) {
  for (const file of files(\`schemas/examples/\${topic}\`)) {
    const found = problems(\`thing/product/\${gateway}/\${topic}\`, read(\`examples/\${topic}/\${file}\`));
    if (found === undefined) failures.push(\`\${topic}/\${file}: no schema\`);
    else if (found.length > 0) failures.push(\`\${topic}/\${file}: \${JSON.stringify(found)}\`);
    else valid++;
  }
}
const broken = "tests/fixtures/breaks_a_rule";
for (const topic of readdirSync(broken).sort()) {
  for (const file of files(\`\${broken}/\${topic}\`)) {
    const found = problems(\`thing/product/\${gateway}/\${topic}\`, load(\`\${broken}/\${topic}/\${file}\`));
    if (found === undefined) failures.push(\`breaks_a_rule/\${topic}/\${file}: no schema\`);
    else if (found.length === 0) failures.push(\`breaks_a_rule/\${topic}/\${file}: accepted\`);
    else refused++;
  }
}
for (const file of files("tests/fixtures/not_ota")) {
  const topic = file.startsWith("services") ? "services" : "events";
  const found = problems(\`thing/product/\${gateway}/\${topic}\`, load(\`tests/fixtures/not_ota/\${file}\`));
  if (found !== undefined) failures.push(\`not_ota/\${file}: routed to a schema\`);
  else other++;
}
if (failures.length > 0 || valid === 0 || refused === 0 || other === 0) {
  console.error("README routing: FAILED\\n  " + failures.join("\\n  "));
  process.exit(1);
}
console.log(\`README routing (ajv): \${valid} examples routed and valid, \${refused} rule-breaking messages refused, \${other} other messages left alone\`);
`;

const out = join(tools, "out", "readme-routing");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "routing.ts"), routing[0] + harness);
// CommonJS output, in a folder of its own kind (tools/ is an ES module package).
writeFileSync(join(out, "package.json"), '{ "type": "commonjs" }\n');
const tsc = join(tools, "node_modules", "typescript", "bin", "tsc");
execFileSync(
  process.execPath,
  [tsc, "--strict", "--target", "es2022", "--module", "commonjs", "--esModuleInterop",
   "--skipLibCheck", "--types", "node", "--typeRoots", join(tools, "node_modules", "@types"),
   "--outDir", out, join(out, "routing.ts")],
  { stdio: "inherit" },
);
execFileSync(process.execPath, [join(out, "routing.js")], { stdio: "inherit", cwd: root });
