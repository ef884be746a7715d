// The refresher seeded with what the cluster holds (last good read back from regcred's own
// Secrets), and credentials that live shorter than refresh.minInterval.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Refresher } from "../../src/engine/refresher.ts";
import { DEFAULT_REFRESH, type RefreshPolicy } from "../../src/base/refresh.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { captureLogger } from "../helpers/log.ts";
import { ScriptedProvider, fail, ok } from "../helpers/fake-provider.ts";
import type { Credential } from "../../providers/contract.ts";

const S = 1_000;
const M = 60 * S;
const T0 = Date.parse("2026-11-22T00:00:00Z");
const at = (ms: number) => new Date(T0 + ms);
const policy: RefreshPolicy = { ...DEFAULT_REFRESH, jitter: 0, retry: { initial: 5 * S, max: 5 * M } };

function setup(provider: ScriptedProvider, p: RefreshPolicy = policy) {
  const capture = captureLogger();
  const changes: string[] = [];
  const metrics = new Metrics();
  const refresher = new Refresher([{ name: "ecr", kind: "test", policy: p, provider }], {
    log: capture.log,
    metrics,
    random: () => 0.5,
    onChange: (name) => changes.push(name),
  });
  return { refresher, changes, metrics, ...capture };
}

const held = (password: string, expiresAt: Date | null): Credential[] => [
  { registries: ["123.dkr.ecr.eu-west-1.amazonaws.com"], username: "AWS", password, expiresAt },
];

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Refresher seeded with the cluster's last good credential", () => {
  it("keeps the seeded credential while the provider fails, and drops it when it expires", async () => {
    const provider = new ScriptedProvider([fail("network")]);
    const { refresher, changes, lines, metrics } = setup(provider);
    expect(refresher.seed("ecr", held("pw-held-in-cluster", at(10 * M)))).toBe(true);
    refresher.start();
    await refresher.settled();
    expect(provider.calls).toHaveLength(1);
    expect(refresher.credentials().get("ecr")?.[0]?.password).toBe("pw-held-in-cluster");
    expect(refresher.status()[0]).toMatchObject({ state: "failing", usable: true, expiresAt: at(10 * M) });
    expect(lines.join("")).toContain(`keeping last good credential until ${at(10 * M).toISOString()}`);
    const expiry = await metrics.credentialExpiry.get();
    expect(expiry.values).toEqual([
      { labels: { registry: "ecr", provider: "test" }, value: at(10 * M).getTime() / 1000 },
    ]);

    await vi.advanceTimersByTimeAsync(10 * M - S);
    expect(refresher.credentials().has("ecr")).toBe(true);
    expect(changes).toEqual([]);
    await vi.advanceTimersByTimeAsync(S);
    expect(refresher.credentials().has("ecr")).toBe(false);
    expect(changes).toEqual(["ecr"]);
    await refresher.stop();
  });

  it("a good mint replaces the seed", async () => {
    const provider = new ScriptedProvider([ok("pw-fresh", at(12 * 60 * M))]);
    const { refresher, changes } = setup(provider);
    refresher.seed("ecr", held("pw-held-in-cluster", at(10 * M)));
    refresher.start();
    await refresher.settled();
    expect(refresher.credentials().get("ecr")?.[0]?.password).toBe("pw-fresh");
    expect(changes).toEqual(["ecr"]);
    await refresher.stop();
  });

  it("ignores a seed that has expired already, or one for an unknown registry", async () => {
    const provider = new ScriptedProvider([fail("network")]);
    const { refresher } = setup(provider);
    expect(refresher.seed("ecr", held("pw-expired", at(-S)))).toBe(false);
    expect(refresher.seed("elsewhere", held("pw-other", at(10 * M)))).toBe(false);
    refresher.start();
    await refresher.settled();
    expect(refresher.credentials().has("ecr")).toBe(false);
    expect(refresher.status()[0]!.state).toBe("failing");
    await refresher.stop();
  });

  it("keeps a seed that does not expire while the provider fails", async () => {
    const provider = new ScriptedProvider([fail("source_unavailable")]);
    const { refresher } = setup(provider);
    refresher.seed("ecr", held("pw-static", null));
    refresher.start();
    await refresher.settled();
    await vi.advanceTimersByTimeAsync(60 * M);
    expect(refresher.credentials().get("ecr")?.[0]?.password).toBe("pw-static");
    await refresher.stop();
  });
});

describe("credentials that live shorter than minInterval", () => {
  it("are refreshed before they expire, with one warning, and no faster than the floor", async () => {
    // Each mint lives 30 s; minInterval is 1 min.
    const provider = new ScriptedProvider([{ ok: [] }]);
    const p: RefreshPolicy = { ...policy, minInterval: M, margin: 5 * S };
    const expiries: number[] = [];
    provider.mint = async () => {
      provider.calls.push(Date.now());
      expiries.push(Date.now() + 30 * S);
      return [
        {
          registries: ["r.example.com"],
          username: "u",
          password: `pw-${Date.now()}`,
          expiresAt: new Date(Date.now() + 30 * S),
        },
      ];
    };
    const { refresher, records } = setup(provider, p);
    refresher.start();
    await refresher.settled();
    await vi.advanceTimersByTimeAsync(2 * M);
    // At half of each 30 s life: every 15 s, each refresh before the previous one expired.
    const calls = provider.calls.map((c) => c - T0);
    expect(calls).toEqual([0, 15 * S, 30 * S, 45 * S, 60 * S, 75 * S, 90 * S, 105 * S, 120 * S]);
    for (let i = 1; i < provider.calls.length; i++) expect(provider.calls[i]!).toBeLessThan(expiries[i - 1]!);
    const warnings = records().filter((r) => String(r.msg).includes("no longer than refresh.minInterval"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.level).toBe("warn");
    await refresher.stop();
  });

  it("a credential living under two seconds is refreshed at most once a second", async () => {
    const provider = new ScriptedProvider([{ ok: [] }]);
    provider.mint = async () => {
      provider.calls.push(Date.now());
      return [
        {
          registries: ["r.example.com"],
          username: "u",
          password: "pw-brief",
          expiresAt: new Date(Date.now() + 1_500),
        },
      ];
    };
    const { refresher } = setup(provider, { ...policy, minInterval: M });
    refresher.start();
    await refresher.settled();
    await vi.advanceTimersByTimeAsync(10 * S);
    const gaps = provider.calls.slice(1).map((c, i) => c - provider.calls[i]!);
    expect(gaps.length).toBe(10);
    for (const g of gaps) expect(g).toBe(S);
    await refresher.stop();
  });
});
