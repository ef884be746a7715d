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
  /** Seconds after the soak's start. */
  at: number;
  /** Seconds the fault lasts (stops and outages). */
  duration?: number;
}

export interface TimelineOptions {
  /** Longest credential lifetime, seconds: the outage must outlast it. */
  maxLifetimeS: number;
  apiserverStopS?: number;
  /** Quiet time after the outage ends: recovery plus at least one healthy refresh. */
  tailS?: number;
  /** Shortest gap between faults, seconds. */
  minGapS?: number;
}

export interface Timeline {
  durationS: number;
  outageS: number;
  faults: Fault[];
}

/** Seconds a run needs at least, to hold every fault with the shortest gaps. */
export function minimumDurationS(opts: TimelineOptions): number {
  const { apiserverStopS = 30, tailS = 45, minGapS = 8 } = opts;
  return 6 * minGapS + apiserverStopS + outageSeconds(opts.maxLifetimeS) + tailS;
}

/** An outage longer than one credential lifetime, with room for the last good one to lapse. */
export function outageSeconds(maxLifetimeS: number): number {
  return maxLifetimeS + 15;
}

export function buildTimeline(durationS: number, opts: TimelineOptions): Timeline {
  const { apiserverStopS = 30, tailS = 45 } = opts;
  const outageS = outageSeconds(opts.maxLifetimeS);
  const min = minimumDurationS(opts);
  if (durationS < min) {
    throw new Error(
      `a soak of ${durationS} s cannot hold every fault: it needs at least ${min} s (${(min / 60).toFixed(1)} minutes)`,
    );
  }
  const gap = (durationS - apiserverStopS - outageS - tailS) / 6;
  const t = (n: number) => Math.round(n);
  const apiserverAt = 3 * gap;
  const deleteAt = apiserverAt + apiserverStopS + gap;
  const configAt = deleteAt + gap;
  const outageAt = configAt + gap;
  return {
    durationS,
    outageS,
    faults: [
      { kind: "namespaces-create", at: t(gap) },
      { kind: "leader-kill", at: t(2 * gap) },
      { kind: "apiserver-stop", at: t(apiserverAt), duration: apiserverStopS },
      { kind: "namespaces-delete", at: t(deleteAt) },
      { kind: "config-change", at: t(configAt) },
      { kind: "provider-outage", at: t(outageAt), duration: outageS },
      // A new leader while the provider fails and the cluster still holds a valid credential:
      // it must keep that credential, not rewrite Secrets without it.
      { kind: "leader-kill-during-outage", at: t(outageAt + Math.min(10, gap)) },
    ],
  };
}
