/**
 * npm run bench:render — plan and serialize Secrets for 50 registries x 5,000 namespaces.
 * Two shapes: one Secret merging all 50 registries (the common merged pull secret), and 50
 * Secrets with one registry each (250,000 Secrets). Each run is plan + manifest + the JSON body
 * a writer sends for every Secret.
 *
 * Peak memory is the process's own high-water mark: each shape runs in a fresh child process
 * that reads process.resourceUsage().maxRSS (the kernel's peak RSS) at the end, so the peak of a
 * synchronous plan counts even though no timer can fire during it. Baseline: the same child
 * doing everything but the run (inputs built, JIT warmed), so the difference is the run's own.
 * Heap: v8's peak old-space-and-large-object use is not exposed, so the heap used right after
 * the run (before anything is released) is reported next to it.
 * Targets (issue 2), merged shape: plan under 1 s, peak RSS (plan and serialization) under 150 MB.
 */
import { execFileSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { plan, type CredentialSet } from "../../src/engine/plan.ts";
import { secretManifest } from "../../src/output/manifest.ts";
import type { Target } from "../../src/config/schema.ts";
import type { Credential } from "../../providers/contract.ts";

const REGISTRIES = 50;
const NAMESPACES = Number(process.env.BENCH_NAMESPACES ?? 5_000);
const MB = 1048576;

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

const base = {
  namespaces: { include: ["team-*"], exclude: ["kube-*"], selector: { matchLabels: { pulls: "private" } } },
  serviceAccounts: [],
  adopt: false,
};
const shapes: Record<string, { label: string; targets: Target[] }> = {
  merged: {
    label: `merged: 1 secret x ${REGISTRIES} registries x ${NAMESPACES} namespaces`,
    targets: [
      { name: "regcred", registries: Array.from({ length: REGISTRIES }, (_, i) => `reg-${i}`), ...base },
    ],
  },
  split: {
    label: `split: ${REGISTRIES} secrets x 1 registry x ${NAMESPACES} namespaces`,
    targets: Array.from({ length: REGISTRIES }, (_, i) => ({
      name: `pull-${i}`,
      registries: [`reg-${i}`],
      ...base,
    })),
  },
};

interface Result {
  secrets: number;
  planMs: number;
  serializeMs: number;
  bytes: number;
  baselineRss: number;
  peakRss: number;
  heapAfter: number;
}

/** In the child: one shape, or none (`baseline`), and the peak the kernel saw. */
function child(shape: string): Result {
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => ({
    name: `team-${i}`,
    labels: { pulls: "private" },
  }));
  const creds = credentials();
  // Warm the JIT once on a small input so the measurement is steady-state, as in the daemon.
  const warm = plan([{ name: "warm", registries: ["reg-0"], ...base }], creds, namespaces.slice(0, 100));
  for (const s of warm.secrets) JSON.stringify(secretManifest(s));
  global.gc?.();
  const baselineRss = process.memoryUsage().rss;
  if (shape === "baseline") {
    return {
      secrets: 0,
      planMs: 0,
      serializeMs: 0,
      bytes: 0,
      baselineRss,
      peakRss: baselineRss,
      heapAfter: 0,
    };
  }
  const start = performance.now();
  const desired = plan(shapes[shape]!.targets, creds, namespaces);
  const manifests = desired.secrets.map(secretManifest);
  const planMs = performance.now() - start;
  // What a writer then sends: one JSON body per Secret, each dropped once sent.
  const serializeStart = performance.now();
  let bytes = 0;
  for (const m of manifests) bytes += JSON.stringify(m).length;
  const serializeMs = performance.now() - serializeStart;
  const heapAfter = process.memoryUsage().heapUsed;
  return {
    secrets: desired.secrets.length,
    planMs,
    serializeMs,
    bytes,
    baselineRss,
    peakRss: process.resourceUsage().maxRSS * 1024,
    heapAfter,
  };
}

function run(shape: string): Result {
  const out = execFileSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), "--child", shape],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  return JSON.parse(out) as Result;
}

const at = process.argv.indexOf("--child");
if (at >= 0) {
  process.stdout.write(JSON.stringify(child(process.argv[at + 1]!)));
} else {
  const baseline = run("baseline");
  console.log(
    `baseline (inputs built, JIT warmed, no run): RSS ${(baseline.peakRss / MB).toFixed(0)} MB peak`,
  );
  let merged: Result | undefined;
  for (const shape of ["merged", "split"]) {
    const r = run(shape);
    if (shape === "merged") merged = r;
    console.log(
      `${shapes[shape]!.label}: ${r.secrets} secrets planned in ${r.planMs.toFixed(0)} ms, ` +
        `serialized (${(r.bytes / 1e6).toFixed(0)} MB of JSON) in ${r.serializeMs.toFixed(0)} ms more; ` +
        `peak RSS ${(r.peakRss / MB).toFixed(0)} MB (baseline ${(baseline.peakRss / MB).toFixed(0)} MB), ` +
        `heap used after ${(r.heapAfter / MB).toFixed(0)} MB`,
    );
  }
  // Serializing is the bytes the writer sends (one body per request, at the API server's pace),
  // so the time target is the plan's; the peak covers both.
  const ok = merged!.planMs < 1_000 && merged!.peakRss < 150 * MB;
  console.log(
    `target (merged: plan < 1000 ms, peak RSS with serialization < 150 MB): ${ok ? "met" : "MISSED"} (${merged!.planMs.toFixed(0)} ms, ${(merged!.peakRss / MB).toFixed(0)} MB)`,
  );
}
