#!/usr/bin/env node
// Builds a Switchboard TypeScript plugin project into a WebAssembly component.
//
//   node <sdk>/build.mjs [PROJECT_DIR]        (default: the current directory)
//   node <sdk>/build.mjs --types-only [DIR]   only (re)generate the WIT types
//
// Steps: generate the TypeScript types of the WIT world (into <sdk>/generated,
// when the WIT changed), type-check the project (`tsc --noEmit`), bundle
// src/index.ts with the SDK into one ES module (esbuild; the WIT imports
// `switchboard:*` and `wasi:*` stay external), then componentize it against
// the world `switchboard:plugin/plugin@0.2.0` into dist/<name>.wasm, where
// <name> is the package name without its scope.
//
// Every tool is the project's own (its node_modules, pinned in its
// package.json). All chatter goes to stderr; the only line on stdout is the
// absolute path of the .wasm file, last.

import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const SDK_DIR = dirname(fileURLToPath(import.meta.url));
const WIT_DIR = join(SDK_DIR, "wit");
const GENERATED_DIR = join(SDK_DIR, "generated");
/** The world in the WIT package `switchboard:plugin@0.2.0`. */
const WORLD = "plugin";

const say = (message) => process.stderr.write(`${message}\n`);

class BuildError extends Error {}

/** The directory of package `name` as Node would find it from `fromDir`. */
function packageDir(name, fromDir) {
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (dirname(dir) === dir) throw new BuildError(`${name} is not installed for ${fromDir}: run \`npm install\` there`);
  }
}

/** The file a bare `import(name)` loads: the `import`/`node`/`default` export, else `main`. */
function entryFile(dir) {
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  let entry = pkg.exports && typeof pkg.exports === "object" && "." in pkg.exports ? pkg.exports["."] : pkg.exports;
  while (entry && typeof entry === "object") entry = entry.import ?? entry.node ?? entry.default;
  return join(dir, typeof entry === "string" ? entry : (pkg.main ?? "index.js"));
}

const importFile = (file) => import(pathToFileURL(file).href);

/**
 * jco 1.35's type generator runs the WIT parser as a component on
 * preview2-shim 0.26, which no longer preopens "/" by default: the guest then
 * sees no filesystem, and `jco types`/`jco guest-types` fail on any path with
 * "failed to read path for WIT [...]: No such file or directory (os error 44)".
 * Giving the shim that jco-transpile loads a "/" preopen makes it read the
 * WIT folder. componentize-js's own WIT reader gets the same, in case its
 * shim is as new (it loads whichever @bytecodealliance/preview2-shim the
 * project has: 0.23.0 imports it without declaring it as a dependency, so
 * the project pins it, at 0.25.0).
 */
async function preopenRoot(fromPackageDir) {
  let shim;
  try {
    shim = createRequire(join(fromPackageDir, "package.json")).resolve("@bytecodealliance/preview2-shim/filesystem");
  } catch {
    // componentize-js 0.23.0 imports the shim without declaring it: the project must.
    throw new BuildError(
      `${fromPackageDir} cannot load @bytecodealliance/preview2-shim: add "@bytecodealliance/preview2-shim": "0.25.0" to the project's devDependencies`,
    );
  }
  const fs = await importFile(shim);
  if (typeof fs._setPreopens === "function") fs._setPreopens({ "/": "/" });
}

function witFiles(dir = WIT_DIR, prefix = "") {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isFile() && entry.name.endsWith(".wit")) out.push([`${prefix}${entry.name}`, path]);
    // The host's old contract versions (wit/versions) are not part of the world.
    else if (entry.name === "deps" || prefix.startsWith("deps/")) out.push(...witFiles(path, `${prefix}${entry.name}/`));
  }
  return out;
}

/** Generates <sdk>/generated/ (plugin.d.ts and interfaces/*.d.ts) when the WIT changed. */
export async function generateTypes(toolsFrom) {
  const jcoDir = packageDir("@bytecodealliance/jco", toolsFrom);
  const transpileDir = packageDir("@bytecodealliance/jco-transpile", jcoDir);
  const hash = createHash("sha256");
  hash.update(readFileSync(join(transpileDir, "package.json")));
  for (const [name, path] of witFiles()) hash.update(`${name}\0`).update(readFileSync(path)).update("\0");
  const stamp = hash.digest("hex");
  const stampFile = join(GENERATED_DIR, ".stamp");
  if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) return false;

  await preopenRoot(transpileDir);
  const { generateGuestTypes } = await importFile(entryFile(transpileDir));
  const files = await generateGuestTypes(WIT_DIR, { worldName: WORLD, name: WORLD });
  // Written beside, then swapped in, so a concurrent build never sees half.
  const temp = `${GENERATED_DIR}.${process.pid}.tmp`;
  rmSync(temp, { recursive: true, force: true });
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(dirname(join(temp, name)), { recursive: true });
    writeFileSync(join(temp, name), data);
  }
  writeFileSync(join(temp, ".stamp"), stamp);
  rmSync(GENERATED_DIR, { recursive: true, force: true });
  renameSync(temp, GENERATED_DIR);
  say(`generated the WIT types in ${GENERATED_DIR}`);
  return true;
}

function typeCheck(project) {
  const tsc = join(packageDir("typescript", project), "bin", "tsc");
  const run = spawnSync(process.execPath, [tsc, "--noEmit", "-p", project], { stdio: ["ignore", 2, 2] });
  if (run.status !== 0) throw new BuildError(`type check failed (tsc --noEmit -p ${project})`);
}

async function bundle(project, entry, outfile) {
  const esbuild = createRequire(join(project, "package.json"))("esbuild");
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    mainFields: ["module", "main"],
    external: ["switchboard:*", "wasi:*"],
    metafile: true,
    logLevel: "warning",
  });
  const exports = Object.values(result.metafile.outputs)[0]?.exports ?? [];
  if (!exports.includes("handler")) {
    throw new BuildError(`${entry} must export the plugin as \`handler\`: export const handler = definePlugin({ ... })`);
  }
}

async function componentizeBundle(project, source, outfile) {
  const componentizeDir = packageDir("@bytecodealliance/componentize-js", project);
  await preopenRoot(componentizeDir);
  const { componentize } = await importFile(entryFile(componentizeDir));
  const started = performance.now();
  const { component } = await componentize({ sourcePath: source, witPath: WIT_DIR, worldName: WORLD });
  const temp = `${outfile}.${process.pid}.tmp`;
  writeFileSync(temp, component);
  renameSync(temp, outfile); // a running host that watches the file never reads half of it
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  say(`componentized ${outfile}: ${(component.length / 1e6).toFixed(1)} MB in ${seconds} s`);
}

export async function build(projectDir) {
  const project = resolve(projectDir);
  const manifest = JSON.parse(readFileSync(join(project, "package.json"), "utf8"));
  const name = String(manifest.name ?? "plugin").replace(/^@[^/]*\//, "");
  const entry = join(project, "src", "index.ts");
  if (!existsSync(entry)) throw new BuildError(`no ${entry}`);
  const dist = join(project, "dist");
  mkdirSync(dist, { recursive: true });

  await generateTypes(project);
  typeCheck(project);
  const bundled = join(dist, `${name}.js`);
  await bundle(project, entry, bundled);
  const wasm = join(dist, `${name}.wasm`);
  await componentizeBundle(project, bundled, wasm);
  return wasm;
}

async function main(args) {
  const typesOnly = args.includes("--types-only");
  const dir = args.find((a) => !a.startsWith("--")) ?? process.cwd();
  if (typesOnly) {
    await generateTypes(dir);
    return;
  }
  const wasm = await build(dir);
  process.stdout.write(`${wasm}\n`);
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    say(e instanceof BuildError ? `error: ${e.message}` : (e?.stack ?? String(e)));
    process.exit(1);
  });
}
