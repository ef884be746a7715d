import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Refresher, type RegistryRuntime } from "../../src/engine/refresher.ts";
import { DEFAULT_REFRESH, type RefreshPolicy } from "../../src/base/refresh.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { captureLogger } from "../helpers/log.ts";
import { ScriptedProvider, fail, ok } from "../helpers/fake-provider.ts";
import type { CronStarter } from "../../src/engine/cron.ts";

const S = 1_000;
const M = 60 * S;
const H = 60 * M;
const T0 = Date.parse("2026-11-22T00:00:00Z");
const policy: RefreshPolicy = { ...DEFAULT_REFRESH, jitter: 0, retry: { initial: 5 * S, max: 5 * M } };

function setup(
  registries: Array<Omit<RegistryRuntime, "kind" | "policy"> & { policy?: RefreshPolicy }>,
  cron?: CronStarter,
) {
  const { log, lines, records } = captureLogger();
  const metrics = new Metrics();
  const changes: string[] = [];
  const refresher = new Refresher(
    registries.map((r) => ({ kind: "test", policy, ...r })),
    { log, metrics, random: () => 0.5, onChange: (name) => changes.push(name), ...(cron ? { cron } : {}) },
  );
  return { refresher, metrics, lines, records, changes };
}

const at = (ms: number) => new Date(T0 + ms);
const sinceStart = (calls: number[]) => calls.map((c) => c - T0);

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Refresher", () => {
  it("refreshes at half the remaining lifetime, again and again", async () => {
    const provider = new ScriptedProvider([
      ok("pw-first", at(12 * H)),
      ok("pw-second", at(18 * H)),
      ok("pw-third", at(24 * H)),
    ]);
    const { refresher, changes } = setup([{ name: "ecr", provider }]);
    refresher.start();
    await refresher.settled();
    expect(refresher.status()[0]!.nextRefreshAt).toEqual(at(6 * H));
    await vi.advanceTimersByTimeAsync(6 * H);
    // minted at 6 h, expires 18 h: next at 6 + 6 = 12 h
    expect(refresher.status()[0]!.nextRefreshAt).toEqual(at(12 * H));
    await vi.advanceTimersByTimeAsync(6 * H);
    expect(sinceStart(provider.calls)).toEqual([0, 6 * H, 12 * H]);
    expect(refresher.credentials().get("ecr")![0]!.password).toBe("pw-third");
    expect(changes).toEqual(["ecr", "ecr", "ecr"]);
    await refresher.stop();
  });

  it("jitter moves the refresh point within bounds", async () => {
    const provider = new ScriptedProvider([ok("pw-jitter", at(10 * H))]);
    const { log } = captureLogger();
    for (const [r, expected] of [
      [0, 5 * H * 0.8],
      [0.75, 5 * H * 1.1],
    ] as const) {
      const refresher = new Refresher(
        [{ name: "r", kind: "test", policy: { ...policy, jitter: 0.2 }, provider }],
        {
          log,
          metrics: new Metrics(),
          random: () => r,
        },
      );
      refresher.start();
      await refresher.settled();
      expect(refresher.status()[0]!.nextRefreshAt!.getTime() - Date.now()).toBeCloseTo(expected, -1);
      await refresher.stop();
    }
  });

  it("backs off exponentially on failure, capped, keeping the last good credential", async () => {
    const provider = new ScriptedProvider([ok("pw-good", at(2 * H)), fail("throttled", "Rate exceeded")]);
    const { refresher, metrics } = setup([{ name: "ecr", provider }]);
    refresher.start();
    await refresher.settled();
    await vi.advanceTimersByTimeAsync(H); // first scheduled refresh fails
    // Failures at 1h, then +5s, +10s, +20s, +40s, +80s, +160s, +300s (cap), +300s
    await vi.advanceTimersByTimeAsync(16 * M);
    const gaps = provider.calls.slice(1).map((c, i, all) => (i === 0 ? 0 : c - all[i - 1]!));
    expect(gaps.slice(1, 9)).toEqual([5 * S, 10 * S, 20 * S, 40 * S, 80 * S, 160 * S, 300 * S, 300 * S]);
    const status = refresher.status()[0]!;
    expect(status.state).toBe("failing");
    expect(status.lastError).toMatchObject({ reason: "throttled", message: "Rate exceeded" });
    expect(refresher.credentials().get("ecr")![0]!.password).toBe("pw-good");
    expect(await metrics.text()).toMatch(
      /regcred_refresh_failures_total\{registry="ecr",provider="test",reason="throttled"\} \d+/,
    );
    await refresher.stop();
  });

  it("drops the last good credential when it expires while refreshes keep failing", async () => {
    const provider = new ScriptedProvider([ok("pw-good", at(2 * H)), fail()]);
    const { refresher, changes, records } = setup([{ name: "gcr", provider }]);
    refresher.start();
    await refresher.settled();
    await vi.advanceTimersByTimeAsync(H + S);
    expect(refresher.credentials().has("gcr")).toBe(true);
    await vi.advanceTimersByTimeAsync(H);
    expect(refresher.credentials().has("gcr")).toBe(false);
    expect(changes).toEqual(["gcr", "gcr"]);
    expect(records().some((r) => String(r.msg).includes("expired while refreshes fail"))).toBe(true);
    await refresher.stop();
  });

  it("uses an already-expired credential, flags it, and retries at minInterval without a hot loop", async () => {
    // moto answers with an expiresAt in 2015.
    const provider = new ScriptedProvider([ok("pw-moto", new Date("2015-01-01T00:00:00Z"))]);
    const { refresher, records, metrics } = setup([{ name: "moto", provider }]);
    refresher.start();
    await refresher.settled();
    expect(refresher.credentials().get("moto")![0]!.password).toBe("pw-moto");
    expect(refresher.status()[0]!.state).toBe("expired");
    const warning = records().find((r) => r.level === "warn");
    expect(warning?.msg).toMatch(/arrived already expired/);
    const text = await metrics.text();
    expect(text).toContain(
      `regcred_credential_expiry_timestamp_seconds{registry="moto",provider="test"} ${Date.parse("2015-01-01T00:00:00Z") / 1000}`,
    );
    expect(text).toMatch(/regcred_refresh_total\{registry="moto",provider="test",result="expired"\} 1/);
    await vi.advanceTimersByTimeAsync(10 * M);
    // one call at start, then one per minInterval: 11 in 10 minutes, not thousands
    expect(provider.calls).toHaveLength(11);
    expect(sinceStart(provider.calls).slice(0, 3)).toEqual([0, M, 2 * M]);
    await refresher.stop();
  });

  it("one failing, hanging registry delays no other", async () => {
    const stuck = new ScriptedProvider([{ hang: true }]);
    const healthy = new ScriptedProvider([ok("pw-healthy", at(H))]);
    const { refresher } = setup([
      { name: "stuck", provider: stuck, policy: { ...policy, timeout: 30 * S } },
      { name: "healthy", provider: healthy },
    ]);
    refresher.start();
    await vi.advanceTimersByTimeAsync(0);
    // healthy minted at once, while stuck is still waiting
    expect(refresher.credentials().get("healthy")![0]!.password).toBe("pw-healthy");
    expect(refresher.status().find((s) => s.name === "stuck")!.state).toBe("pending");
    await vi.advanceTimersByTimeAsync(30 * M);
    expect(sinceStart(healthy.calls)).toEqual([0, 30 * M]);
    const stuckStatus = refresher.status().find((s) => s.name === "stuck")!;
    expect(stuckStatus.lastError?.reason).toBe("timeout");
    await refresher.stop();
  });

  it("a cron schedule forces extra refreshes", async () => {
    let tick: (() => void) | undefined;
    const cron: CronStarter = (expr, fn) => {
      expect(expr).toBe("*/5 * * * *");
      tick = fn;
      return () => (tick = undefined);
    };
    const provider = new ScriptedProvider([ok("pw-cron", at(12 * H))]);
    const { refresher } = setup(
      [{ name: "c", provider, policy: { ...policy, schedule: "*/5 * * * *" } }],
      cron,
    );
    refresher.start();
    await refresher.settled();
    tick!();
    await vi.advanceTimersByTimeAsync(0);
    tick!();
    await vi.advanceTimersByTimeAsync(0);
    expect(provider.calls).toHaveLength(3);
    await refresher.stop();
    expect(tick).toBeUndefined();
  });

  it("the real node-cron schedule fires a refresh", async () => {
    vi.useRealTimers();
    const provider = new ScriptedProvider([ok("pw-cron", new Date(Date.now() + 12 * H))]);
    const { refresher } = setup([{ name: "c", provider, policy: { ...policy, schedule: "* * * * * *" } }]);
    refresher.start();
    await refresher.settled();
    await vi.waitFor(() => expect(provider.calls.length).toBeGreaterThanOrEqual(2), {
      timeout: 3_000,
      interval: 50,
    });
    await refresher.stop();
  });

  it("a source change mints at once, and concurrent triggers coalesce", async () => {
    const provider = new ScriptedProvider([ok("pw-a", null), ok("pw-b", null)]);
    const { refresher, changes } = setup([{ name: "s", provider }]);
    refresher.start();
    await refresher.settled();
    provider.emitChange();
    provider.emitChange();
    provider.emitChange();
    await vi.advanceTimersByTimeAsync(0);
    // start + one for the change + one coalesced follow-up, not one per event
    expect(provider.calls.length).toBeLessThanOrEqual(3);
    expect(refresher.credentials().get("s")![0]!.password).toBe("pw-b");
    expect(changes).toEqual(["s", "s"]);
    await refresher.stop();
  });

  it("an unchanged credential does not signal a change", async () => {
    const provider = new ScriptedProvider([ok("pw-same", null)]);
    const { refresher, changes } = setup([{ name: "s", provider }]);
    refresher.start();
    await refresher.settled();
    await refresher.refresh("s");
    await refresher.refresh("s");
    expect(provider.calls).toHaveLength(3);
    expect(changes).toEqual(["s"]);
    await refresher.stop();
  });

  it("caps timers for far-future expiries instead of overflowing", async () => {
    const provider = new ScriptedProvider([ok("pw-far", at(5 * 365 * 24 * H))]);
    const { refresher } = setup([{ name: "far", provider }]);
    refresher.start();
    await refresher.settled();
    await vi.advanceTimersByTimeAsync(M);
    expect(provider.calls).toHaveLength(1);
    expect(refresher.status()[0]!.nextRefreshAt).toEqual(at(24 * H));
    await refresher.stop();
  });

  it("stop clears timers and aborts an in-flight mint", async () => {
    const stuck = new ScriptedProvider([{ hang: true }]);
    const periodic = new ScriptedProvider([ok("pw-p", at(H))]);
    const { refresher } = setup([
      { name: "stuck", provider: stuck },
      { name: "periodic", provider: periodic },
    ]);
    refresher.start();
    await vi.advanceTimersByTimeAsync(0);
    await refresher.stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(24 * H);
    expect(periodic.calls).toHaveLength(1);
    expect(stuck.calls).toHaveLength(1);
  });

  it("recovers by itself when the provider comes back", async () => {
    const provider = new ScriptedProvider([fail("network"), fail("network"), ok("pw-back", at(H))]);
    const { refresher, records } = setup([{ name: "r", provider }]);
    refresher.start();
    await refresher.settled();
    expect(refresher.credentials().has("r")).toBe(false);
    await vi.advanceTimersByTimeAsync(15 * S);
    expect(refresher.credentials().get("r")![0]!.password).toBe("pw-back");
    expect(refresher.status()[0]).toMatchObject({ state: "ok", consecutiveFailures: 0, lastError: null });
    expect(records().some((r) => String(r.msg).includes("recovered"))).toBe(true);
    await refresher.stop();
  });
});
