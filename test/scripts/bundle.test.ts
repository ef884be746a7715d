/**
 * The image's bundle (scripts/bundle.ts), built and started as the image starts it: what Node
 * loads before regcred does any work is resident for the daemon's whole life.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "regcred-bundle-"));
  execFileSync(process.execPath, ["scripts/bundle.ts", "--outdir", path.join(dir, "dist")], { cwd: root });
  // The CLI reads its version from the package.json next to dist/, as in the image.
  copyFileSync(path.join(root, "package.json"), path.join(dir, "package.json"));
  // Node's own list of the built-in modules it has loaded, printed as the process exits.
  writeFileSync(
    path.join(dir, "loaded.mjs"),
    'process.on("exit", () => process.stderr.write(JSON.stringify(process.moduleLoadList)));\n',
  );
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the bundle", () => {
  it("starts without loading Node's bundled undici (built-ins are taken by require, not their ES facades)", () => {
    const run = spawnSync(
      process.execPath,
      ["--import", path.join(dir, "loaded.mjs"), path.join(dir, "dist/src/main.js"), "--version"],
      { encoding: "utf8" },
    );
    const { version } = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
      version: string;
    };
    expect(run.stdout.trim()).toBe(version);
    const loaded = JSON.parse(run.stderr) as string[];
    // The list is real: the HTTP stack regcred starts with is in it.
    expect(loaded).toContain("NativeModule https");
    // `import "node:http"` would build http's facade, whose WebSocket getter loads undici:
    // about 8 MB resident that a daemon making no fetch() never uses.
    expect(loaded.filter((m) => m.includes("undici"))).toEqual([]);
  });
});
