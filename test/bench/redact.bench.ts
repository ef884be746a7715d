/**
 * npm run bench:redact — the log redactor with 10,000 registered values.
 *
 * "before" is the previous design, kept here as the baseline of the same run: one alternation
 * regex over every value, rebuilt on the first redact() after each registration. "after" is
 * src/base/redact.ts. For each: the time per log line once all values are registered, the
 * heap the values cost, and the longest event-loop stall while values arrive one at a time
 * with a log line after each (what a refresher does: mint, register, log). Targets (issue 14):
 * no stall over 10 ms; cost per line that does not grow with the number of values.
 */
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { setImmediate as tick } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import * as after from "../../src/base/redact.ts";

const VALUES = Number(process.env.BENCH_VALUES ?? 10_000);
const LINES = 20_000;
// The baseline rebuilds its regex after every registration: registering all 10,000 values one
// at a time takes many minutes, so it registers this many one at a time, then the rest at once.
const BASELINE_STEPS = Number(process.env.BENCH_BASELINE_STEPS ?? 1_000);

interface Redactor {
  registerSecret(value: string): void;
  redact(text: string): string;
  reset(): void;
}

function regexRedactor(): Redactor {
  const secrets = new Set<string>();
  let pattern: RegExp | null = null;
  const add = (v: string) => {
    if (v.length < 4 || secrets.has(v)) return;
    secrets.add(v);
    pattern = null;
  };
  return {
    registerSecret(value) {
      add(value);
      add(JSON.stringify(value).slice(1, -1));
      add(Buffer.from(value).toString("base64"));
    },
    redact(text) {
      if (secrets.size === 0) return text;
      pattern ??= new RegExp(
        [...secrets]
          .sort((a, b) => b.length - a.length)
          .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
          .join("|"),
        "g",
      );
      return text.replace(pattern, "**redacted**");
    },
    reset() {
      secrets.clear();
      pattern = null;
    },
  };
}

const redactors: Record<"before" | "after", Redactor> = {
  before: regexRedactor(),
  after: { registerSecret: after.registerSecret, redact: after.redact, reset: after.resetRedactor },
};

// Tokens of realistic shape: ECR-like passwords share a long prefix, others are random.
const values = Array.from({ length: VALUES }, (_, i) =>
  i % 2 === 0 ? `eyJwYXlsb2FkIjoi${randomBytes(48).toString("base64url")}` : randomBytes(30).toString("hex"),
);
const line = (i: number) =>
  `{"level":"info","time":${Date.now()},"registry":"reg-${i % 50}","provider":"ecr","expiresAt":"2026-12-01T12:00:00.000Z","nextRefreshIn":"5h59m","msg":"credential for reg-${i % 50} refreshed"}`;
const lineWithSecret = (i: number) => `${line(i)} token=${values[i % values.length]}`;

async function measure(name: string, r: Redactor, steps: number) {
  r.reset();
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let worstStep = 0;
  const registerStart = performance.now();
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    r.registerSecret(values[i]!);
    r.redact(line(i));
    worstStep = Math.max(worstStep, performance.now() - t);
    // Yield like a daemon would between refreshes, so the delay monitor sees each step.
    if (i % 100 === 0) await tick();
  }
  const registerMs = performance.now() - registerStart;
  delay.disable();
  for (let i = steps; i < values.length; i++) r.registerSecret(values[i]!);
  global.gc?.();
  const heapAfter = process.memoryUsage().heapUsed;

  let t = performance.now();
  for (let i = 0; i < LINES; i++) r.redact(line(i));
  const plainUs = ((performance.now() - t) * 1000) / LINES;
  t = performance.now();
  let masked = 0;
  for (let i = 0; i < LINES; i++) if (r.redact(lineWithSecret(i)).includes("**redacted**")) masked++;
  const hitUs = ((performance.now() - t) * 1000) / LINES;
  if (masked !== LINES) throw new Error(`${name}: only ${masked} of ${LINES} secrets were masked`);
  return {
    redactor: name,
    values: VALUES,
    "registered one at a time": steps,
    "register+log those (ms)": Math.round(registerMs),
    "worst single register+log (ms)": Number(worstStep.toFixed(2)),
    "event-loop delay max (ms)": Number((delay.max / 1e6).toFixed(1)),
    "per line, no secret (µs)": Number(plainUs.toFixed(2)),
    "per line, one secret (µs)": Number(hitUs.toFixed(2)),
    "heap for the values (MB)": Number(((heapAfter - heapBefore) / 1e6).toFixed(1)),
  };
}

const rows = [];
for (const [name, r] of Object.entries(redactors))
  rows.push(await measure(name, r, name === "before" ? Math.min(BASELINE_STEPS, VALUES) : VALUES));
console.table(rows);
const a = rows.find((r) => r.redactor === "after")!;
console.log(
  `target: no event-loop stall over 10 ms -> after: worst step ${a["worst single register+log (ms)"]} ms: ${a["worst single register+log (ms)"] <= 10 ? "met" : "MISSED"}`,
);
console.log(JSON.stringify(rows));
