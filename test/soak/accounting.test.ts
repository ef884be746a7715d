import { describe, expect, it } from "vitest";
import {
  Accounting,
  mergeIntervals,
  type EntryView,
  type NamespaceView,
  type Verdict,
} from "./accounting.ts";
import { judgeAgainstIssuer } from "./prober.ts";
import { classifyPath, type LeaseWrite, type WireWrite } from "./api-proxy.ts";
import { fencing } from "./report.ts";
import { buildTimeline, minimumDurationS } from "./timeline.ts";

const H = "reg:5000";
// Tokens "tN" expire at N seconds; "s" never expires; anything else is unknown.
const oracle = (_host: string, e: EntryView, now: number): Verdict => {
  if (e.password === "s") return { state: "valid", expiresAt: null };
  const m = /^t(\d+)$/.exec(e.password);
  if (!m) return { state: "unknown" };
  const expiresAt = Number(m[1]) * 1000;
  return now < expiresAt ? { state: "valid", expiresAt } : { state: "expired", expiresAt };
};
const ns = (password: string | null, over: Partial<NamespaceView> = {}): NamespaceView => ({
  name: "n1",
  expect: "selected",
  since: 0,
  secret: password === null ? null : new Map([[H, { username: "u", password }]]),
  saHasEntry: true,
  ...over,
});
const acc = () => new Accounting({ hosts: [H], graceMs: 5_000, oracle });

describe("soak accounting", () => {
  it("counts from the moment an entry expired, not from the tick that saw it", () => {
    const a = acc();
    a.observe(10_000, [ns("t15")]);
    a.observe(12_000, [ns("t15")]);
    a.observe(20_000, [ns("t15")]); // expired at 15 s, seen at 20 s
    a.observe(22_000, [ns("t60")]);
    expect(a.seconds("expired", [])).toEqual({ up: 5 });
    expect(a.counts.expired).toBe(1);
  });

  it("splits seconds by window", () => {
    const a = acc();
    a.observe(10_000, [ns("t11")]);
    a.observe(30_000, [ns("t11")]);
    expect(a.seconds("expired", [{ label: "outage", from: 20_000, to: 25_000 }])).toEqual({
      up: 14,
      outage: 5,
    });
  });

  it("calls a valid entry that disappears dropped, and a missing one past grace absent", () => {
    const a = acc();
    a.observe(1_000, [ns("t100")]);
    a.observe(3_000, [ns(null)]); // gone while valid until 100 s
    expect(a.counts.dropped).toBe(1);
    expect(a.seconds("dropped", [])).toEqual({ up: 2 });
    const b = acc();
    b.observe(1_000, [ns(null, { since: 0 })]); // inside grace: pending
    b.observe(6_000, [ns(null, { since: 0 })]);
    expect(b.counts).toMatchObject({ absent: 1, dropped: 0 });
  });

  it("an entry removed after it expired is absent, not dropped", () => {
    const a = acc();
    a.observe(1_000, [ns("t2")]);
    a.observe(3_000, [ns("t2")]);
    a.observe(6_000, [ns(null)]);
    expect(a.counts).toMatchObject({ expired: 1, dropped: 0, absent: 1 });
  });

  it("flags unknown credentials, missing ServiceAccount entries and strays; skips transitions", () => {
    const a = acc();
    a.observe(10_000, [
      ns("forged", { name: "x" }),
      ns("s", { name: "y", saHasEntry: false }),
      ns("s", { name: "z", expect: "unselected" }),
      ns("forged", { name: "w", expect: "skip" }),
    ]);
    expect(a.counts).toMatchObject({ unknown: 1, "sa-missing": 1, stray: 1, expired: 0 });
  });

  it("records registry answers against the issuer's verdict", () => {
    const a = acc();
    a.registryCheck(1, { state: "valid", expiresAt: null }, true, "n");
    a.registryCheck(1, { state: "expired", expiresAt: 0 }, false, "n");
    a.registryCheck(1, { state: "valid", expiresAt: null }, false, "n");
    expect(a.registryChecks).toEqual({
      validAccepted: 1,
      invalidRefused: 1,
      validRefused: 1,
      invalidAccepted: 0,
    });
    expect(a.counts["registry-rejected"]).toBe(1);
  });

  it("judges a registry answer at both ends of the request: a token lapsing in flight is neither valid nor expired", async () => {
    let t = 9_000;
    const clock = () => t;
    const slow = (ms: number, accepted: boolean) => async () => {
      t += ms;
      return accepted;
    };
    const t10 = { username: "u", password: "t10" };
    // Sent at 9 s, answered at 11 s: t10 expired (at 10 s) while the registry decided.
    expect(await judgeAgainstIssuer(oracle, H, t10, slow(2_000, false), clock)).toBe("straddled");
    // Wholly after expiry: expired, judged at the answer.
    expect(await judgeAgainstIssuer(oracle, H, t10, slow(500, false), clock)).toEqual({
      verdict: { state: "expired", expiresAt: 10_000 },
      accepted: false,
      at: 11_500,
    });
    t = 1_000;
    expect(await judgeAgainstIssuer(oracle, H, t10, slow(500, true), clock)).toMatchObject({
      verdict: { state: "valid" },
      accepted: true,
    });
  });

  it("merges overlapping intervals", () => {
    expect(
      mergeIntervals([
        { from: 5, to: 8 },
        { from: 1, to: 3 },
        { from: 2, to: 6 },
        { from: 9, to: 9 },
      ]),
    ).toEqual([{ from: 1, to: 8 }]);
  });
});

describe("soak fencing from the wire", () => {
  const w = (at: number): WireWrite => ({
    at,
    answeredAt: at + 1,
    method: "PATCH",
    resource: "secrets",
    namespace: "n",
    status: 200,
  });
  const l = (at: number, holder: string): LeaseWrite => ({ at, answeredAt: at + 1, status: 200, holder });

  it("a write after another replica acquired the Lease is unfenced", () => {
    const f = fencing([w(5), w(20)], [l(0, "a")], [l(10, "b")], 100);
    expect(f).toEqual({ afterTakeover: 1, withoutLease: 0, pastRenewDeadline: 0 });
  });

  it("writes without a Lease, after a release, or past the renew deadline are counted", () => {
    expect(fencing([w(5)], [], [], 100).withoutLease).toBe(1);
    expect(fencing([w(5)], [l(0, "a"), l(3, "")], [], 100).withoutLease).toBe(1);
    expect(fencing([w(500)], [l(0, "a")], [], 100).pastRenewDeadline).toBe(1);
    expect(fencing([w(50)], [l(0, "a")], [], 100)).toEqual({
      afterTakeover: 0,
      withoutLease: 0,
      pastRenewDeadline: 0,
    });
  });

  it("classifies API paths", () => {
    expect(classifyPath("/api/v1/namespaces/x/secrets/s?fieldManager=regcred")).toEqual({
      resource: "secrets",
      namespace: "x",
    });
    expect(classifyPath("/apis/events.k8s.io/v1/namespaces/x/events")).toEqual({
      resource: "events",
      namespace: "x",
    });
    expect(classifyPath("/apis/coordination.k8s.io/v1/namespaces/r/leases/l").resource).toBe("leases");
    expect(classifyPath("/api/v1/namespaces").resource).toBe("other");
  });
});

describe("soak timeline", () => {
  it("keeps every fault in the short form, the outage longer than a lifetime, all before the end", () => {
    for (const minutes of [6, 20]) {
      const t = buildTimeline(minutes * 60, { maxLifetimeS: 90 });
      expect(new Set(t.faults.map((f) => f.kind)).size).toBe(7);
      const outage = t.faults.find((f) => f.kind === "provider-outage")!;
      expect(outage.duration).toBeGreaterThan(90);
      expect(outage.at + outage.duration! + 105).toBeLessThanOrEqual(t.durationS);
      const times = t.faults.map((f) => f.at);
      expect([...times].sort((a, b) => a - b)).toEqual(times);
      // A leader kill and the API server stop never block writes back to back.
      const kill = t.faults.find((f) => f.kind === "leader-kill")!;
      const stop = t.faults.find((f) => f.kind === "apiserver-stop")!;
      expect(stop.at - kill.at).toBeGreaterThanOrEqual(25);
    }
  });

  it("refuses a run too short to hold the faults", () => {
    expect(() => buildTimeline(300, { maxLifetimeS: 90 })).toThrow(/at least 334 s/);
    expect(minimumDurationS({ maxLifetimeS: 90 })).toBe(334);
  });
});
