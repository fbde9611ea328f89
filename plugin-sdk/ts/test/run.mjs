// The SDK's unit tests: `npm test` (or `node test/run.mjs`) in plugin-sdk/ts,
// after `npm install` there. Generates the WIT types, type-checks the SDK and
// the tests, bundles each test/*.test.ts with the WIT imports pointed at
// test/fake-host.ts, then runs them with `node --test`.

import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateTypes } from "../build.mjs";

const sdk = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(sdk, ".test-out");
const run = (args) => spawnSync(process.execPath, args, { stdio: "inherit", cwd: sdk }).status;

await generateTypes(sdk);
const tsc = join(sdk, "node_modules", "typescript", "bin", "tsc");
if (run([tsc, "--noEmit", "-p", "."]) !== 0 || run([tsc, "--noEmit", "-p", "test"]) !== 0) process.exit(1);

/** The functions a generated interface declares (`export function send(`, `export { _delete as delete }`). */
function witFunctions(iface) {
  const dts = readFileSync(join(sdk, "generated", "interfaces", `switchboard-plugin-${iface}.d.ts`), "utf8");
  const names = [...dts.matchAll(/export function (\w+)\(/g)].map((m) => m[1]);
  names.push(...[...dts.matchAll(/export \{ _(\w+) as \w+ \}/g)].map((m) => m[1]));
  return names;
}

const fakeHost = join(sdk, "test", "fake-host.ts");
const witImports = {
  name: "fake-wit-imports",
  setup(build) {
    build.onResolve({ filter: /^(switchboard|wasi):/ }, (args) => ({ path: args.path, namespace: "wit" }));
    build.onLoad({ filter: /.*/, namespace: "wit" }, (args) => {
      const iface = /^switchboard:plugin\/([\w-]+)@/.exec(args.path)?.[1];
      if (!iface) return { errors: [{ text: `the tests fake no ${args.path}` }] };
      const lines = [`import { call } from ${JSON.stringify(fakeHost)};`];
      for (const fn of witFunctions(iface)) {
        lines.push(`const _${fn} = (...args) => call(${JSON.stringify(iface)}, ${JSON.stringify(fn)}, args);`);
        lines.push(`export { _${fn} as ${fn} };`);
      }
      return { contents: lines.join("\n"), loader: "js", resolveDir: sdk };
    });
  },
};

const tests = readdirSync(join(sdk, "test")).filter((f) => f.endsWith(".test.ts")).sort();
rmSync(out, { recursive: true, force: true });
const esbuild = createRequire(join(sdk, "package.json"))("esbuild");
await esbuild.build({
  entryPoints: tests.map((f) => join(sdk, "test", f)),
  outdir: out,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  plugins: [witImports],
  logLevel: "warning",
});
const status = run(["--test", ...tests.map((f) => join(out, f.replace(/\.ts$/, ".mjs")))]);
process.exit(status ?? 1);
