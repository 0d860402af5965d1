// Drift check of the generated API contract (`npm run check:api`; part of `make lint`).
// 1. web/openapi.json must equal what the server's models produce now
//    (`python -m leapscope.server._openapi`, with $PYTHON or ../.venv/bin/python);
// 2. src/generated/api.d.ts must equal what openapi-typescript makes of web/openapi.json.
// Each is regenerated into a temporary folder and compared; on drift: `npm run gen:api`.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const root = resolve(web, "..");
const python = process.env.PYTHON ?? join(root, ".venv", "bin", "python");
const tmp = mkdtempSync(join(tmpdir(), "leapscope-check-api-"));
const drift = [];
try {
  if (!existsSync(python)) throw new Error(`check:api: no Python at ${python}; run \`make install\` or set PYTHON=/path/to/python`);
  const schema = execFileSync(python, ["-m", "leapscope.server._openapi"], { cwd: root, encoding: "utf8", maxBuffer: 64 << 20 });
  if (schema !== readFileSync(join(web, "openapi.json"), "utf8")) drift.push("web/openapi.json differs from the server's models");
  const schemaFile = join(tmp, "openapi.json");
  writeFileSync(schemaFile, schema);
  const out = join(tmp, "api.d.ts");
  execFileSync(join(web, "node_modules", ".bin", "openapi-typescript"), [schemaFile, "-o", out], { cwd: web, stdio: ["ignore", "ignore", "inherit"] });
  if (readFileSync(out, "utf8") !== readFileSync(join(web, "src", "generated", "api.d.ts"), "utf8"))
    drift.push("web/src/generated/api.d.ts differs from what openapi-typescript generates");
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
if (drift.length) {
  console.error(`check:api: the generated API contract is out of date:\n  ${drift.join("\n  ")}\nfix: cd web && npm run gen:api, then commit both files`);
  process.exit(1);
}
console.log("check:api: web/openapi.json and src/generated/api.d.ts are up to date");
