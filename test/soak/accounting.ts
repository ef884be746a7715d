// What the soak's prober saw, turned into seconds. Pure: the prober feeds it one snapshot of
// every namespace per tick; it keeps, per kind of problem, the time intervals in which at least
// one namespace had it, and later splits them by what the world was doing at the time.

export type Category =
  /** A selected namespace's entry is past the expiry its issuer gave it. */
  | "expired"
  /** An entry no issuer ever minted (or under the wrong username). */
  | "unknown"
  /** An entry that was valid at its last sighting is gone although it has not expired. */
  | "dropped"
  /** A selected namespace past its grace period has no entry (no Secret, or no key for the host). */
  | "absent"
  /** A selected namespace's default ServiceAccount lacks the Secret in imagePullSecrets. */
  | "sa-missing"
  /** A namespace that is not selected (past its grace period) holds the Secret. */
  | "stray"
  /** The real registry refused an entry its issuer says is valid. */
  | "registry-rejected";

export const CATEGORIES: readonly Category[] = [
  "expired",
  "unknown",
  "dropped",
  "absent",
  "sa-missing",
  "stray",
  "registry-rejected",
];

export interface Interval {
  from: number;
  to: number;
}

export interface EntryView {
  username: string;
  password: string;
}

export interface NamespaceView {
  name: string;
  /** selected: must hold a usable entry per host; unselected: must hold no Secret; skip: in transition. */
  expect: "selected" | "unselected" | "skip";
  /** When the expectation began (ms epoch): the grace period runs from here. */
  since: number;
  /** The Secret's auths by host, or null when the namespace has no such Secret. */
  secret: ReadonlyMap<string, EntryView> | null;
  /** Whether the default ServiceAccount lists the Secret; null when unknown. */
  saHasEntry: boolean | null;
}

export type Verdict =
  | { state: "valid"; expiresAt: number | null }
  | { state: "expired"; expiresAt: number }
  | { state: "unknown" };

/** Which credentials are good, as their issuer (not regcred) says. */
export type Oracle = (host: string, entry: EntryView, now: number) => Verdict;

export interface Incident {
  at: number;
  namespace: string;
  category: Category;
  detail?: string;
}

export interface Window {
  label: string;
  from: number;
  to: number;
}

export class Accounting {
  readonly intervals: Record<Category, Interval[]> = Object.fromEntries(
    CATEGORIES.map((c) => [c, []]),
  ) as unknown as Record<Category, Interval[]>;
  /** How many (namespace, tick) observations had each problem. */
  readonly counts: Record<Category, number> = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<
    Category,
    number
  >;
  /** The first few incidents of each kind, for the report. */
  readonly examples: Incident[] = [];
  entryChecks = 0;
  ticks = 0;
  registryChecks = { validAccepted: 0, invalidRefused: 0, validRefused: 0, invalidAccepted: 0 };
  private prev: number | undefined;
  private readonly lastValid = new Map<string, number | null>();

  constructor(
    private readonly opts: { hosts: readonly string[]; graceMs: number; oracle: Oracle; examples?: number },
  ) {}

  /** One snapshot of every namespace at `now`. */
  observe(now: number, views: readonly NamespaceView[]): void {
    const since = this.prev ?? now;
    const onsets = new Map<Category, number>();
    const flag = (category: Category, onset: number, namespace: string, detail?: string) => {
      const o = Math.max(since, Math.min(onset, now));
      onsets.set(category, Math.min(onsets.get(category) ?? o, o));
      this.counts[category]++;
      if (this.examples.filter((e) => e.category === category).length < (this.opts.examples ?? 5)) {
        this.examples.push({ at: now, namespace, category, ...(detail ? { detail } : {}) });
      }
    };
    for (const v of views) {
      const pastGrace = now - v.since >= this.opts.graceMs;
      if (v.expect === "unselected") {
        if (v.secret && pastGrace) flag("stray", since, v.name);
        continue;
      }
      if (v.expect !== "selected") continue;
      for (const host of this.opts.hosts) {
        const key = `${v.name}\u0000${host}`;
        const entry = v.secret?.get(host);
        if (!entry) {
          const last = this.lastValid.get(key);
          this.lastValid.delete(key);
          if (last !== undefined && (last === null || last > now)) flag("dropped", since, v.name, host);
          else if (pastGrace) flag("absent", since, v.name, host);
          continue;
        }
        this.entryChecks++;
        const verdict = this.opts.oracle(host, entry, now);
        if (verdict.state === "valid") {
          this.lastValid.set(key, verdict.expiresAt);
        } else {
          this.lastValid.delete(key);
          if (verdict.state === "expired") flag("expired", verdict.expiresAt, v.name, host);
          else flag("unknown", since, v.name, host);
        }
      }
      if (v.saHasEntry === false && pastGrace) flag("sa-missing", since, v.name);
    }
    for (const [category, onset] of onsets) this.intervals[category].push({ from: onset, to: now });
    this.prev = now;
    this.ticks++;
  }

  /** A real registry's answer for an entry, against what its issuer says. */
  registryCheck(now: number, verdict: Verdict, accepted: boolean, namespace: string): void {
    const valid = verdict.state === "valid";
    if (valid && accepted) this.registryChecks.validAccepted++;
    else if (!valid && !accepted) this.registryChecks.invalidRefused++;
    else if (!valid && accepted) this.registryChecks.invalidAccepted++;
    else {
      this.registryChecks.validRefused++;
      this.counts["registry-rejected"]++;
      this.intervals["registry-rejected"].push({ from: this.prev ?? now, to: now });
      this.examples.push({ at: now, namespace, category: "registry-rejected" });
    }
  }

  /**
   * Seconds in which at least one namespace had the problem, split by window label ("up" for
   * time in no window). Windows must not overlap each other.
   */
  seconds(category: Category, windows: readonly Window[]): Record<string, number> {
    const merged = mergeIntervals(this.intervals[category]);
    const out: Record<string, number> = { up: 0 };
    for (const w of windows) out[w.label] ??= 0;
    for (const i of merged) {
      let rest = i.to - i.from;
      for (const w of windows) {
        const overlap = Math.max(0, Math.min(i.to, w.to) - Math.max(i.from, w.from));
        out[w.label]! += overlap;
        rest -= overlap;
      }
      out.up! += rest;
    }
    for (const k of Object.keys(out)) out[k] = Math.round(out[k]! / 100) / 10;
    return out;
  }
}

export function mergeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].filter((i) => i.to > i.from).sort((a, b) => a.from - b.from);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.from <= last.to) last.to = Math.max(last.to, i.to);
    else out.push({ ...i });
  }
  return out;
}
