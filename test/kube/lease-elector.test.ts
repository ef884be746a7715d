// The leader elector's state machine on a fake lock and a fake clock (vitest fake timers:
// setTimeout and Date.now). The lock is the one thing faked: it behaves as the API server's
// Lease does (version-guarded writes, 409 on a stale version, 404 before creation).
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LeaderElector } from "../../src/kube/lease.ts";
import type { Lock } from "../../src/kube/lease-lock.ts";
import { FakeLock } from "../helpers/fake-lock.ts";
import { captureLogger } from "../helpers/log.ts";

const LEASE = 3_000;
const RENEW = 2_000;
const RETRY = 500;

function elector(lock: Lock, identity: string) {
  const events: Array<{ at: number; what: "started" | "stopped" }> = [];
  const e = new LeaderElector({
    lock,
    identity,
    leaseDurationMs: LEASE,
    renewDeadlineMs: RENEW,
    retryPeriodMs: RETRY,
    log: captureLogger().log,
    now: () => Date.now(),
    random: () => 0.5,
    onStartedLeading: () => events.push({ at: Date.now(), what: "started" }),
    onStoppedLeading: () => events.push({ at: Date.now(), what: "stopped" }),
  });
  return { e, events };
}

const T0 = Date.parse("2026-12-01T00:00:00Z");
beforeEach(() => void vi.useFakeTimers({ now: T0 }));
afterEach(() => void vi.useRealTimers());

describe("LeaderElector (fake lock, fake clock)", () => {
  it("creates an absent lock, leads, and renews once per retry period", async () => {
    const lock = new FakeLock();
    const { e, events } = elector(lock, "a");
    e.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(e.isLeader()).toBe(true);
    expect(events).toEqual([{ at: T0, what: "started" }]);
    expect(lock.record).toMatchObject({ holderIdentity: "a", leaseDurationSeconds: 3, leaseTransitions: 0 });
    await vi.advanceTimersByTimeAsync(5 * RETRY);
    expect(lock.writes.map((w) => w.at - T0)).toEqual([0, 500, 1000, 1500, 2000, 2500]);
    expect(events).toHaveLength(1);
    await e.stop({ release: false });
  });

  it("steps down exactly renewDeadline after the last successful renewal when the lock is unreachable", async () => {
    const lock = new FakeLock();
    const { e, events } = elector(lock, "a");
    e.start();
    await vi.advanceTimersByTimeAsync(RETRY); // renewed at T0 + 500
    lock.down = true;
    await vi.advanceTimersByTimeAsync(RENEW - 1);
    expect(e.isLeader()).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(e.isLeader()).toBe(false);
    expect(events.at(-1)).toEqual({ at: T0 + RETRY + RENEW, what: "stopped" });
    // Still trying, once per (jittered) retry period, not in a loop.
    const before = lock.writes.length;
    lock.down = false;
    await vi.advanceTimersByTimeAsync(RETRY * 2.2);
    expect(e.isLeader()).toBe(true);
    expect(lock.writes.length - before).toBe(1);
    expect(events.map((x) => x.what)).toEqual(["started", "stopped", "started"]);
    await e.stop({ release: false });
  });

  it("a follower leaves a live lock alone and takes it leaseDuration after it last changed", async () => {
    const lock = new FakeLock();
    const a = elector(lock, "a");
    const b = elector(lock, "b");
    a.e.start();
    await vi.advanceTimersByTimeAsync(0);
    b.e.start();
    await vi.advanceTimersByTimeAsync(10 * RETRY);
    expect(b.e.isLeader()).toBe(false);
    // a crashes: no more renewals, no release.
    await a.e.stop({ release: false });
    const crashedAt = Date.now();
    const lastRenew = lock.writes.at(-1)!.at;
    await vi.advanceTimersByTimeAsync(LEASE + 2.2 * RETRY);
    expect(b.e.isLeader()).toBe(true);
    const took = b.events[0]!.at;
    // b saw the record change at most one attempt after lastRenew, and waits a full lease from then.
    expect(took).toBeGreaterThanOrEqual(lastRenew + LEASE);
    expect(took).toBeLessThanOrEqual(crashedAt + LEASE + 2.2 * RETRY);
    expect(lock.record).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
    await b.e.stop({ release: false });
  });

  it("a leader whose lock is taken steps down on its next renewal (version conflict) and stays a follower", async () => {
    const lock = new FakeLock();
    const { e, events } = elector(lock, "a");
    e.start();
    await vi.advanceTimersByTimeAsync(RETRY);
    lock.takeBy("intruder");
    await vi.advanceTimersByTimeAsync(RETRY);
    expect(e.isLeader()).toBe(false);
    expect(events.at(-1)).toEqual({ at: T0 + 2 * RETRY, what: "stopped" });
    expect(lock.record!.holderIdentity).toBe("intruder");
    await vi.advanceTimersByTimeAsync(20 * RETRY);
    expect(e.isLeader()).toBe(false);
    await e.stop();
    // Not ours: stop() does not release it.
    expect(lock.record!.holderIdentity).toBe("intruder");
  });

  it("after a freeze past the deadline, isLeader() steps down at once, before any timer runs", async () => {
    const lock = new FakeLock();
    const { e, events } = elector(lock, "a");
    e.start();
    await vi.advanceTimersByTimeAsync(RETRY);
    // SIGSTOP: the clock moves on, no timer fires.
    vi.setSystemTime(Date.now() + LEASE * 2);
    expect(events.map((x) => x.what)).toEqual(["started"]);
    expect(e.isLeader()).toBe(false);
    expect(events.map((x) => x.what)).toEqual(["started", "stopped"]);
    await e.stop({ release: false });
  });

  it("stop() steps down before it releases the lock, and a follower takes over at its next attempt", async () => {
    const lock = new FakeLock();
    const a = elector(lock, "a");
    const b = elector(lock, "b");
    a.e.start();
    await vi.advanceTimersByTimeAsync(0);
    b.e.start();
    await vi.advanceTimersByTimeAsync(2 * RETRY);
    await a.e.stop();
    expect(lock.record).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1 });
    const releasedAt = lock.writes.at(-1)!.at;
    expect(a.events.at(-1)!.what).toBe("stopped");
    expect(a.events.at(-1)!.at).toBeLessThanOrEqual(releasedAt);
    await vi.advanceTimersByTimeAsync(2.2 * RETRY);
    expect(b.e.isLeader()).toBe(true);
    expect(b.events[0]!.at).toBeLessThanOrEqual(releasedAt + 2.2 * RETRY);
    await b.e.stop();
  });

  it("two electors contending for a fresh lock: exactly one leads at every instant", async () => {
    const lock = new FakeLock();
    const a = elector(lock, "a");
    const b = elector(lock, "b");
    a.e.start();
    b.e.start();
    for (let i = 0; i < 40; i++) {
      await vi.advanceTimersByTimeAsync(100);
      expect([a.e.isLeader(), b.e.isLeader()].filter(Boolean)).toHaveLength(1);
    }
    await a.e.stop();
    await b.e.stop();
  });
});
