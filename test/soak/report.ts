// The soak's report: targets with their measured values, the fault script as it ran, what the
// upstream saw, and each daemon process's memory, event-loop delay and writes (from the wire).
import type { Accounting, Category, Window } from "./accounting.ts";
import { CATEGORIES } from "./accounting.ts";
import type { LeaseWrite, WireWrite } from "./api-proxy.ts";
import type { Prober } from "./prober.ts";
import { daemonEntry, type Replica } from "./replicas.ts";
import type { FaultKind } from "./timeline.ts";
import type { UpstreamCall } from "./upstream.ts";

export interface FaultRecord {
  kind: FaultKind;
  plannedAt: number;
  startedAt: number;
  endedAt?: number;
  duration?: number;
  ok?: boolean;
  note?: string;
}

export interface Target {
  name: string;
  value: number | null;
  target: string;
  met: boolean;
}

export interface Fencing {
  /** Writes that reached the API server after another replica had taken the Lease. */
  afterTakeover: number;
  /** Writes by a replica that held no Lease (never acquired, or released). */
  withoutLease: number;
  /** Writes more than renewDeadline after the replica's last successful renewal. */
  pastRenewDeadline: number;
}

export interface ProcessReport {
  name: string;
  config: number;
  startedAtS: number;
  endedAtS: number | null;
  end: string;
  rssStartMB: number | null;
  rssEndMB: number | null;
  rssPeakMB: number | null;
  eventLoopP99MaxMs: number | null;
  eventLoopP99MedianMs: number | null;
  writes: Record<string, number>;
  /** Writes the API server refused ("secrets 403") or never answered ("secrets no answer"). */
  failedWrites: Record<string, number>;
  leaseAcquiresOrRenewals: number;
  fencing: Fencing;
  refreshes: Record<string, number>;
}

export interface SoakReport {
  run: string;
  /** The daemon build soaked (dist/src/main.js unless SOAK_DAEMON_ENTRY says otherwise). */
  daemon: string;
  logs: string;
  startedAt: string;
  durationS: number;
  probeIntervalS: number;
  lifetimeS: { min: number; max: number };
  refresh: string;
  targets: Target[];
  met: boolean;
  faults: FaultRecord[];
  seconds: Record<Category, Record<string, number>>;
  examples: Array<{ atS: number; namespace: string; category: Category; detail?: string }>;
  checks: {
    ticks: number;
    staleTicks: number;
    /** Registry checks and pulls during which the credential expired, judged neither way. */
    straddled: number;
    entryChecks: number;
    registry: Accounting["registryChecks"];
    cranePulls: { agreed: number; disagreed: number; examples: string[] };
  };
  upstream: {
    calls: number;
    callsDuringOutage: number;
    mints: number;
    callsPerMintOutsideOutage: number | null;
    mintsNeverWritten: number;
    mintsPerLifetime: number | null;
  };
  recovery: { afterOutageS: number | null; allowanceS: number };
  processes: ProcessReport[];
}

const MB = (b: number | undefined) => (b === undefined ? null : Math.round((b / 1048576) * 10) / 10);
const ok = (status: number | undefined) => status !== undefined && status < 300;

export function fencing(
  own: readonly WireWrite[],
  ownLease: readonly LeaseWrite[],
  others: readonly LeaseWrite[],
  renewDeadlineMs: number,
): Fencing {
  const out: Fencing = { afterTakeover: 0, withoutLease: 0, pastRenewDeadline: 0 };
  const mine = ownLease.filter((l) => ok(l.status));
  const theirs = others.filter((l) => ok(l.status) && l.holder !== "");
  for (const w of own) {
    if (w.resource === "leases" || w.status === undefined) continue;
    const last = mine.filter((l) => l.answeredAt < w.at).at(-1);
    if (!last || last.holder === "") {
      out.withoutLease++;
      continue;
    }
    if (theirs.some((o) => o.at > last.answeredAt && o.answeredAt < w.at)) out.afterTakeover++;
    else if (w.at - last.answeredAt > renewDeadlineMs) out.pastRenewDeadline++;
  }
  return out;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function buildReport(input: {
  run: string;
  dir: string;
  t0: number;
  durationS: number;
  probeIntervalS: number;
  lifetimeS: { min: number; max: number };
  refresh: string;
  churn: number;
  faults: FaultRecord[];
  windows: Window[];
  accounting: Accounting;
  prober: Prober;
  replicas: Replica[];
  renewDeadlineMs: number;
  upstream: { calls: UpstreamCall[]; mints: string[]; seenTokens: Set<string> };
  recovery: { outageEndedAt: number; recoveredAt: number | undefined; allowanceMs: number };
}): SoakReport {
  const { accounting: acc, t0, windows } = input;
  const seconds = Object.fromEntries(CATEGORIES.map((c) => [c, acc.seconds(c, windows)])) as Record<
    Category,
    Record<string, number>
  >;
  // The provider is up outside its outage and the recovery after it; the API server's stop counts.
  const upS = (c: Category) => Math.round(((seconds[c].up ?? 0) + (seconds[c].apiserver ?? 0)) * 10) / 10;
  const total = (c: Category) => Object.values(seconds[c]).reduce((a, b) => a + b, 0);
  const rel = (ms: number) => Math.round((ms - t0) / 100) / 10;

  const processes: ProcessReport[] = input.replicas.map((r) => {
    const writes: Record<string, number> = {};
    for (const w of r.proxy.writes) {
      if (w.resource === "leases" || !ok(w.status)) continue;
      writes[w.resource] = (writes[w.resource] ?? 0) + 1;
    }
    const others = input.replicas.filter((o) => o !== r).flatMap((o) => o.proxy.leaseWrites);
    return {
      name: r.name,
      config: r.configVersion,
      startedAtS: rel(r.startedAt),
      endedAtS: r.endedAt === undefined ? null : rel(r.endedAt),
      end: r.end ?? "running",
      rssStartMB: MB(r.rssStartBytes),
      rssEndMB: MB(r.rssEndBytes),
      rssPeakMB: MB(r.hwmBytes),
      eventLoopP99MaxMs: r.lagP99Seconds.length
        ? Math.round(Math.max(...r.lagP99Seconds) * 10_000) / 10
        : null,
      eventLoopP99MedianMs: (() => {
        const m = median(r.lagP99Seconds);
        return m === null ? null : Math.round(m * 10_000) / 10;
      })(),
      writes,
      failedWrites: r.proxy.writes
        .filter((w) => w.resource !== "leases" && !ok(w.status))
        .reduce<Record<string, number>>((acc, w) => {
          const k = `${w.resource} ${w.status ?? "no answer"}`;
          acc[k] = (acc[k] ?? 0) + 1;
          return acc;
        }, {}),
      leaseAcquiresOrRenewals: r.proxy.leaseWrites.filter((l) => ok(l.status) && l.holder !== "").length,
      fencing: fencing(r.proxy.writes, r.proxy.leaseWrites, others, input.renewDeadlineMs),
      refreshes: r.refreshes,
    };
  });
  const fenceTotal = (k: keyof Fencing) => processes.reduce((a, p) => a + p.fencing[k], 0);

  const calls = input.upstream.calls;
  const outageCalls = calls.filter((c) => c.outage).length;
  const mints = input.upstream.mints.length;
  const meanLifetime = (input.lifetimeS.min + input.lifetimeS.max) / 2;
  const recoveryS =
    input.recovery.recoveredAt === undefined
      ? null
      : Math.round((input.recovery.recoveredAt - input.recovery.outageEndedAt) / 100) / 10;
  const allowanceS = input.recovery.allowanceMs / 1000;
  const pulls = input.prober.pulls;

  const t = (name: string, value: number | null, target: string, met: boolean): Target => ({
    name,
    value,
    target,
    met,
  });
  const zero = (name: string, value: number) => t(name, value, "0", value === 0);
  const targets: Target[] = [
    zero("seconds a selected namespace held an expired credential while its provider was up", upS("expired")),
    zero("seconds a selected namespace lacked its entry while the provider was up", upS("absent")),
    zero("seconds a still-valid entry had been removed (any time, outage included)", total("dropped")),
    zero("seconds an entry held a credential no issuer minted", total("unknown")),
    zero("seconds a default ServiceAccount lacked the Secret while the provider was up", upS("sa-missing")),
    zero("seconds an unselected namespace held the Secret (past grace)", total("stray")),
    zero("registry checks refusing an entry its issuer calls valid", acc.registryChecks.validRefused),
    zero("crane pulls disagreeing with the issuer's verdict", pulls.disagreed),
    zero("writes after another replica took the Lease (wire)", fenceTotal("afterTakeover")),
    zero("writes by a replica holding no Lease (wire)", fenceTotal("withoutLease")),
    zero("writes past the writer's renew deadline (wire)", fenceTotal("pastRenewDeadline")),
    t(
      "seconds from the outage's end until every namespace was good again",
      recoveryS,
      `<= ${allowanceS}`,
      recoveryS !== null && recoveryS <= allowanceS,
    ),
    // The soak can see a failure: expiry during the long outage is expected, and the registry
    // must refuse those credentials.
    t(
      "the prober saw credentials lapse during the outage (s, expected > 0)",
      Math.round((seconds.expired.outage! + seconds.absent.outage!) * 10) / 10,
      "> 0",
      seconds.expired.outage! + seconds.absent.outage! > 0,
    ),
    t(
      "registry refused an invalid entry (checks, expected > 0)",
      acc.registryChecks.invalidRefused,
      "> 0",
      acc.registryChecks.invalidRefused > 0,
    ),
    zero("registry accepted an invalid entry (rig check)", acc.registryChecks.invalidAccepted),
    t(
      "faults run as scripted",
      input.faults.filter((f) => f.ok).length,
      `${input.faults.length}`,
      input.faults.length > 0 && input.faults.every((f) => f.ok),
    ),
  ];

  return {
    run: input.run,
    daemon: daemonEntry(),
    logs: input.dir,
    startedAt: new Date(t0).toISOString(),
    durationS: input.durationS,
    probeIntervalS: input.probeIntervalS,
    lifetimeS: input.lifetimeS,
    refresh: input.refresh,
    targets,
    met: targets.every((x) => x.met),
    faults: input.faults,
    seconds,
    examples: acc.examples.map((e) => ({ ...e, atS: rel(e.at) })).map(({ at: _at, ...rest }) => rest),
    checks: {
      ticks: acc.ticks,
      staleTicks: input.prober.staleTicks,
      straddled: input.prober.straddled,
      entryChecks: acc.entryChecks,
      registry: acc.registryChecks,
      cranePulls: pulls,
    },
    upstream: {
      calls: calls.length,
      callsDuringOutage: outageCalls,
      mints,
      callsPerMintOutsideOutage:
        mints === 0 ? null : Math.round(((calls.length - outageCalls) / mints) * 100) / 100,
      mintsNeverWritten: input.upstream.mints.filter((m) => !input.upstream.seenTokens.has(m)).length,
      mintsPerLifetime:
        mints === 0 ? null : Math.round((mints / (input.durationS / meanLifetime)) * 100) / 100,
    },
    recovery: { afterOutageS: recoveryS, allowanceS },
    processes,
  };
}

function pad(s: string, n: number): string {
  // At least one space: an overlong cell must not run into the next one.
  return s.length >= n ? `${s} ` : s + " ".repeat(n - s.length);
}

export function formatReport(r: SoakReport): string {
  const lines: string[] = [];
  lines.push(
    `soak ${r.run} of ${r.daemon}: ${r.durationS} s, credentials living ${r.lifetimeS.min}-${r.lifetimeS.max} s, probe every ${r.probeIntervalS} s, refresh ${r.refresh}`,
  );
  lines.push("");
  lines.push("faults (s after start):");
  for (const f of r.faults) {
    lines.push(
      `  ${pad(f.kind, 27)} planned ${pad(String(f.plannedAt), 5)} ran ${pad(f.startedAt.toFixed(1), 7)} - ${pad(f.endedAt?.toFixed(1) ?? "?", 7)} ${f.ok ? "ok" : "FAILED"}  ${f.note ?? ""}`,
    );
  }
  lines.push("");
  lines.push("targets:");
  for (const x of r.targets) {
    lines.push(
      `  ${x.met ? "met   " : "MISSED"} ${pad(String(x.value), 8)} (target ${pad(x.target, 6)}) ${x.name}`,
    );
  }
  lines.push("");
  lines.push("seconds with at least one namespace affected, by window:");
  const labels = [...new Set(Object.values(r.seconds).flatMap((s) => Object.keys(s)))];
  lines.push(`  ${pad("", 18)}${labels.map((l) => pad(l, 10)).join("")}`);
  for (const [c, s] of Object.entries(r.seconds)) {
    lines.push(`  ${pad(c, 18)}${labels.map((l) => pad(String(s[l] ?? 0), 10)).join("")}`);
  }
  lines.push("");
  const u = r.upstream;
  lines.push(
    `upstream: ${u.calls} calls (${u.callsDuringOutage} during the outage), ${u.mints} tokens minted, ${u.callsPerMintOutsideOutage} calls per refresh outside the outage, ${u.mintsPerLifetime} mints per mean lifetime, ${u.mintsNeverWritten} minted tokens never seen in a Secret`,
  );
  const ch = r.checks;
  lines.push(
    `checks: ${ch.ticks} probes (${ch.staleTicks} while the API server was down), ${ch.entryChecks} entries judged, registry ${JSON.stringify(ch.registry)} (${ch.straddled} straddled an expiry), crane pulls ${ch.cranePulls.agreed} agreed / ${ch.cranePulls.disagreed} disagreed`,
  );
  lines.push("");
  lines.push("processes:");
  lines.push(
    `  ${["name", "cfg", "start s", "end s", "how it ended", "RSS start", "RSS end", "peak", "p99 max", "p99 med", "writes", "fencing", "refused or unanswered"].map((h, i) => pad(h, [5, 4, 8, 8, 22, 10, 9, 8, 9, 9, 44, 8, 0][i]!)).join("")}`,
  );
  for (const p of r.processes) {
    const writes = Object.entries(p.writes)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    const f = p.fencing;
    lines.push(
      `  ${pad(p.name, 5)}${pad(`v${p.config}`, 4)}${pad(String(p.startedAtS), 8)}${pad(String(p.endedAtS ?? "-"), 8)}${pad(p.end, 22)}${pad(`${p.rssStartMB} MB`, 10)}${pad(`${p.rssEndMB} MB`, 9)}${pad(`${p.rssPeakMB}`, 8)}${pad(`${p.eventLoopP99MaxMs} ms`, 9)}${pad(`${p.eventLoopP99MedianMs} ms`, 9)}${pad(writes || "none", 44)}${pad(`${f.afterTakeover}/${f.withoutLease}/${f.pastRenewDeadline}`, 8)}${
        Object.entries(p.failedWrites)
          .map(([k, v]) => `${k}: ${v}`)
          .join(", ") || "none"
      }`,
    );
  }
  lines.push("  (fencing: writes after another took the Lease / without a Lease / past the renew deadline)");
  if (r.examples.length) {
    lines.push("");
    lines.push("first incidents (s after start):");
    for (const e of r.examples)
      lines.push(`  ${e.atS} ${e.category} ${e.namespace}${e.detail ? ` ${e.detail}` : ""}`);
  }
  lines.push("");
  lines.push(`verdict: ${r.met ? "every target met" : "targets MISSED"}; logs in ${r.logs}`);
  return lines.join("\n");
}
