// The house rules for imports, checked by `npm run lint` (depcruise). The layers, bottom up:
// src/base (imports nothing of regcred) < providers/contract.ts < providers/kit.ts < providers
// < config < engine < writers (src/output, src/kube) < cli and daemon. docs/architecture.md
// draws them.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "No import circle between modules, type-only imports included.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-folder-circular",
      comment: "No circle between folders either (engine <-> output, config <-> engine, ...).",
      severity: "error",
      scope: "folder",
      from: {},
      to: { circular: true },
    },
    {
      name: "providers-through-the-kit",
      comment: "providers/ reaches src/ only through providers/kit.ts.",
      severity: "error",
      from: { path: "^providers/", pathNot: "^providers/kit[.]ts$" },
      to: { path: "^src/" },
    },
    {
      name: "kit-exposes-the-ground-floor",
      comment: "The kit re-exports src/base only: providers never reach config, engine or writers.",
      severity: "error",
      from: { path: "^providers/kit[.]ts$" },
      to: { path: "^src/", pathNot: "^src/base/" },
    },
    {
      name: "contract-is-a-leaf",
      comment: "providers/contract.ts imports nothing of regcred.",
      severity: "error",
      from: { path: "^providers/contract[.]ts$" },
      to: { path: "^(src|providers|test)/" },
    },
    {
      name: "base-is-a-leaf",
      comment: "src/base imports nothing of regcred outside itself.",
      severity: "error",
      from: { path: "^src/base/" },
      to: { path: "^(src|providers|test)/", pathNot: "^src/base/" },
    },
    {
      name: "providers-apart",
      comment: "A provider folder does not import another provider's folder.",
      severity: "error",
      from: { path: "^providers/([^/]+)/" },
      to: { path: "^providers/[^/]+/", pathNot: "^providers/$1/" },
    },
    {
      name: "no-tests-in-production",
      comment: "Nothing in src/ or providers/ imports test/.",
      severity: "error",
      from: { path: "^(src|providers)/" },
      to: { path: "^test/" },
    },
  ],
  options: {
    // Type-only imports are edges too: a circle of types is still a circle in the design.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/" },
  },
};
