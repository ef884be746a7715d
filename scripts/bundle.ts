/**
 * npm run build: bundles the CLI (src/main.ts) into dist/ with esbuild, as the image ships it.
 *
 * Why a bundle: the daemon's resident memory is mostly code. Unbundled, importing
 * @kubernetes/client-node loads its whole generated API (every group, every model: ~20 MB of
 * JavaScript) because its index re-exports all of it; bundled, only the APIs regcred calls
 * (CoreV1, CoordinationV1, EventsV1) and what they reach stay. Provider SDKs (AWS, Azure,
 * Google) are imported on demand (providers/lazy.ts), so splitting puts each in a chunk of its
 * own that is read only when a registry of that kind is configured.
 *
 *   node scripts/bundle.ts [--sourcemap] [--outdir DIR]   (SOURCEMAP=1 also turns maps on)
 *
 * Entry stays dist/src/main.js (package.json `bin`, the benches and the soak run it).
 */
import { build, type Plugin } from "esbuild";
import { rmSync, writeFileSync } from "node:fs";
import { createRequire, isBuiltin } from "node:module";
import path from "node:path";
import { parseArgs } from "node:util";

const root = path.resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: { sourcemap: { type: "boolean" }, outdir: { type: "string" }, metafile: { type: "string" } },
});
const outdir = path.resolve(root, values.outdir ?? "dist");
const sourcemap = values.sourcemap === true || process.env.SOURCEMAP === "1";

/**
 * client-node's modules have no side effects at import, but its package.json does not say so,
 * so esbuild kept (and Node ran) every generated model its index re-exports: the models'
 * attribute tables alone were megabytes of heap. regcred uses only KubeConfig and the types
 * (src/kube/api.ts makes its calls), so with this flag the rest is shaken out.
 */
const clientNodeIsPure: Plugin = {
  name: "client-node-side-effect-free",
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === "resolved") return undefined;
      if (
        !args.importer.includes("/@kubernetes/client-node/") &&
        !args.path.startsWith("@kubernetes/client-node")
      )
        return undefined;
      const resolved = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: "resolved",
      });
      if (resolved.errors.length > 0 || !resolved.path.includes("/@kubernetes/client-node/")) return resolved;
      return { ...resolved, sideEffects: false };
    });
  },
};

/** client-node's undici, which regcred never reaches: see scripts/stubs/undici.ts. */
const undiciLeftOut: Plugin = {
  name: "undici-left-out",
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, (args) =>
      args.importer.includes("/@kubernetes/client-node/")
        ? { path: path.join(root, "scripts/stubs/undici.ts") }
        : undefined,
    );
  },
};

/**
 * Node's built-ins taken by require(), not through their ES module facades. Building a facade
 * reads every export, lazy getters included: `import "node:http"` runs http's WebSocket getter,
 * which loads Node's whole bundled undici (measured: 59.4 MB resident against 46.5 by require).
 * The stand-in module exports the same names from the required object, minus the getters: a
 * getter regcred or a dependency imports by name is listed in LAZY_EXPORTS (and esbuild fails
 * the build on one that is not: "No matching export").
 */
const LAZY_EXPORTS: Record<string, readonly string[]> = {
  fs: ["promises", "ReadStream"],
  crypto: ["getRandomValues"],
  async_hooks: ["AsyncLocalStorage"],
};
const requireBuiltin = createRequire(import.meta.url);
const builtinsByRequire: Plugin = {
  name: "builtins-by-require",
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_]+(\/[a-z_]+)?$/ }, (args) => {
      if (args.kind !== "import-statement" || !isBuiltin(args.path)) return undefined;
      return { path: args.path.replace(/^node:/, ""), namespace: "builtin-by-require" };
    });
    b.onLoad({ filter: /.*/, namespace: "builtin-by-require" }, (args) => {
      const exported = requireBuiltin(`node:${args.path}`) as object;
      const names = Object.entries(Object.getOwnPropertyDescriptors(exported))
        .filter(([k]) => /^[A-Za-z_$][\w$]*$/.test(k) && k !== "default")
        .filter(([k, d]) => !d.get || (LAZY_EXPORTS[args.path] ?? []).includes(k))
        .map(([k]) => k);
      const contents = [
        `const m = require("node:${args.path}");`,
        "export default m;",
        names.length > 0 ? `export const { ${names.join(", ")} } = m;` : "",
      ].join("\n");
      return { contents, loader: "js" };
    });
  },
};

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { "src/main": "src/main.ts" },
  outdir,
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node24",
  minify: true,
  // Error classes and pino/commander messages show constructor names; keep them readable.
  keepNames: true,
  // A single non-ASCII character (a licence comment's author name) makes V8 hold the whole
  // source as a two-byte string: twice the memory for the largest file.
  legalComments: "none",
  charset: "ascii",
  // Off by default: maps cost disk, and memory only when --enable-source-maps reads them.
  sourcemap: sourcemap ? "linked" : false,
  // Bundled CommonJS dependencies call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as __regcredRequire } from 'node:module'; const require = __regcredRequire(import.meta.url);",
  },
  // ws's optional native speed-ups: absent, and ws falls back to JavaScript when they are.
  external: ["bufferutil", "utf-8-validate"],
  plugins: [builtinsByRequire, undiciLeftOut, clientNodeIsPure],
  metafile: values.metafile !== undefined,
  logLevel: "warning",
});
if (values.metafile && result.metafile) writeFileSync(values.metafile, JSON.stringify(result.metafile));
