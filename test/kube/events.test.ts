// The Event rate limiter's decisions, on a fake clock. (Posting to a real API server is in
// test/integration/kube/events.test.ts.)
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EventRateLimiter, type Admission } from "../../src/kube/events.ts";

const MIN = 60_000;

function limiter(opts: Partial<{ perKeyIntervalMs: number; burst: number; refillPerSecond: number }> = {}) {
  return new EventRateLimiter({ perKeyIntervalMs: 5 * MIN, burst: 25, refillPerSecond: 0.5, ...opts });
}

const emitted = (a: Admission) => a.emit;

describe("EventRateLimiter", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date("2026-01-01T00:00:00Z") });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("posts the first occurrence per key and counts repeats within the window", () => {
    const l = limiter();
    const results = Array.from({ length: 50 }, () => l.admit("secret/a:WriteFailed"));
    expect(results.filter(emitted)).toEqual([{ emit: true, suppressed: 0 }]);
    expect(results.slice(1).every((r) => !r.emit && r.why === "repeat")).toBe(true);

    // Still inside the window (4m59s later): suppressed.
    vi.advanceTimersByTime(5 * MIN - 1_000);
    expect(l.admit("secret/a:WriteFailed")).toEqual({ emit: false, why: "repeat" });
    // The first occurrence after the window carries the count of everything held back.
    vi.advanceTimersByTime(1_000);
    expect(l.admit("secret/a:WriteFailed")).toEqual({ emit: true, suppressed: 50 });
    // And opens a new window with a fresh count.
    expect(l.admit("secret/a:WriteFailed")).toEqual({ emit: false, why: "repeat" });
    vi.advanceTimersByTime(5 * MIN);
    expect(l.admit("secret/a:WriteFailed")).toEqual({ emit: true, suppressed: 1 });
  });

  it("keys are independent: another object or another reason is posted at once", () => {
    const l = limiter();
    expect(l.admit("secret/a:WriteFailed").emit).toBe(true);
    expect(l.admit("secret/b:WriteFailed").emit).toBe(true);
    expect(l.admit("secret/a:Conflict").emit).toBe(true);
    expect(l.admit("secret/a:WriteFailed").emit).toBe(false);
  });

  it("a global token bucket caps a storm across many objects at the burst, then refills", () => {
    const l = limiter({ burst: 25, refillPerSecond: 0.5 });
    const storm = Array.from({ length: 1_000 }, (_, i) => l.admit(`ns-${i}/regcred:WriteFailed`));
    expect(storm.filter(emitted)).toHaveLength(25);
    expect(storm.slice(25).every((r) => !r.emit && r.why === "budget")).toBe(true);

    // 0.5 tokens per second: 10 s later, 5 more objects get their Event, each saying that
    // one earlier occurrence was dropped.
    vi.advanceTimersByTime(10_000);
    const next = Array.from({ length: 1_000 }, (_, i) => l.admit(`ns-${i}/regcred:WriteFailed`));
    const posted = next.filter(emitted);
    expect(posted).toHaveLength(5);
    // The first 25 keys are within their window; the next ones were dropped by the budget once.
    expect(posted.every((r) => r.emit && r.suppressed === 1)).toBe(true);
    expect(next.slice(0, 25).every((r) => !r.emit && r.why === "repeat")).toBe(true);
  });

  it("the bucket never holds more than the burst, however long it was idle", () => {
    const l = limiter({ burst: 3, refillPerSecond: 10 });
    vi.advanceTimersByTime(3_600_000);
    const results = Array.from({ length: 10 }, (_, i) => l.admit(`k${i}`));
    expect(results.filter(emitted)).toHaveLength(3);
  });

  it("forgets idle keys, so memory stays bounded across thousands of objects", () => {
    const l = limiter({ burst: 10_000 });
    for (let i = 0; i < 2_000; i++) l.admit(`ns-${i}/regcred:WriteFailed`);
    expect(l.size).toBe(2_000);
    // One repeat keeps a count alive past the window.
    l.admit("ns-0/regcred:WriteFailed");
    vi.advanceTimersByTime(5 * MIN);
    l.admit("other");
    expect(l.size).toBe(2);
    // A count nobody repeats for 12 windows is dropped too.
    vi.advanceTimersByTime(12 * 5 * MIN);
    l.admit("other");
    expect(l.size).toBe(1);
  });

  it("rejects a burst below one", () => {
    expect(() => limiter({ burst: 0 })).toThrow(/burst/);
  });
});
