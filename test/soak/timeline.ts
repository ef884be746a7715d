// The soak's fault script: every fault kind once, spread evenly over the run so each one is
// followed by quiet time in which its after-effects (or their absence) show. A short run keeps
// every fault and shortens only the quiet gaps.

export type FaultKind =
  | "namespaces-create"
  | "leader-kill"
  | "apiserver-stop"
  | "namespaces-delete"
  | "config-change"
  | "provider-outage"
  | "leader-kill-during-outage";

export interface Fault {
  kind: FaultKind;
  /** Seconds after the soak's start, as planned. */
  at: number;
  /**
   * Quiet seconds after the previous fault has ended, at least: a fault that overruns pushes
   * the next one back instead of compounding with it.
   */
  after: number;
  /** Seconds the fault lasts (stops and outages). */
  duration?: number;
}

export interface TimelineOptions {
  /** Longest credential lifetime, seconds: the outage must outlast it. */
  maxLifetimeS: number;
  apiserverStopS?: number;
  /**
   * Quiet time after the outage ends (default: one longest lifetime plus 15 s): the token
   * minted on recovery must be refreshed by schedule, not by a takeover, before it lapses.
   */
  tailS?: number;
}

export interface Timeline {
  durationS: number;
  outageS: number;
  faults: Fault[];
}

// The least quiet time before each fault. A leader kill needs its takeover (lease 15 s plus a
// retry) done before the API server stops, and the API server's return needs the same before
// the next fault; otherwise two faults block writes back to back and no daemon could keep a
// credential alive through both.
const SEQUENCE: Array<{ kind: FaultKind; gap: number }> = [
  { kind: "namespaces-create", gap: 8 },
  { kind: "leader-kill", gap: 8 },
  { kind: "apiserver-stop", gap: 25 },
  { kind: "namespaces-delete", gap: 25 },
  { kind: "config-change", gap: 8 },
  { kind: "provider-outage", gap: 20 },
];

/** An outage longer than one credential lifetime, with room for the last good one to lapse. */
export function outageSeconds(maxLifetimeS: number): number {
  return maxLifetimeS + 15;
}

function fixedSeconds(opts: TimelineOptions): number {
  const { apiserverStopS = 30, tailS = opts.maxLifetimeS + 15 } = opts;
  return apiserverStopS + outageSeconds(opts.maxLifetimeS) + tailS;
}

/** Seconds a run needs at least, to hold every fault with the shortest gaps. */
export function minimumDurationS(opts: TimelineOptions): number {
  return fixedSeconds(opts) + SEQUENCE.reduce((a, s) => a + s.gap, 0);
}

export function buildTimeline(durationS: number, opts: TimelineOptions): Timeline {
  const { apiserverStopS = 30 } = opts;
  const outageS = outageSeconds(opts.maxLifetimeS);
  const min = minimumDurationS(opts);
  if (durationS < min) {
    throw new Error(
      `a soak of ${durationS} s cannot hold every fault: it needs at least ${min} s (${(min / 60).toFixed(1)} minutes)`,
    );
  }
  // Time beyond the minimum is spread evenly over the gaps: a long run is mostly quiet.
  const extra = (durationS - min) / SEQUENCE.length;
  const faults: Fault[] = [];
  let t = 0;
  for (const { kind, gap } of SEQUENCE) {
    t += gap + extra;
    const duration =
      kind === "apiserver-stop" ? apiserverStopS : kind === "provider-outage" ? outageS : undefined;
    faults.push({ kind, at: Math.round(t), after: gap, ...(duration ? { duration } : {}) });
    if (kind === "apiserver-stop") t += apiserverStopS;
    if (kind === "provider-outage") {
      // A new leader while the provider fails and the cluster still holds a valid credential:
      // it must keep that credential, not rewrite Secrets without it.
      faults.push({ kind: "leader-kill-during-outage", at: Math.round(t + 10), after: 0 });
    }
  }
  return { durationS, outageS, faults };
}
