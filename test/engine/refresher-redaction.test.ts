// The redactor through the real Refresher: each credential's values are masked while it is in
// use and let go when a newer one supersedes it, so months of refreshes hold a bounded set.
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { Refresher } from "../../src/engine/refresher.ts";
import { DEFAULT_REFRESH, type RefreshPolicy } from "../../src/base/refresh.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { redact, registerSecret, registeredValues, resetRedactor } from "../../src/base/redact.ts";
import type { Credential, Provider } from "../../providers/contract.ts";
import { captureLogger } from "../helpers/log.ts";

const H = 3_600_000;
const T0 = Date.parse("2026-12-01T00:00:00Z");
const policy: RefreshPolicy = { ...DEFAULT_REFRESH, jitter: 0, retry: { initial: 5_000, max: 60_000 } };
const MASK = "**redacted**";

beforeEach(() => {
  resetRedactor();
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
  resetRedactor();
});

/** Mints a new password each time and registers an exchange token on the way, as ACR does. */
class RotatingProvider implements Provider {
  n = 0;
  hints: Array<readonly Credential[] | null> = [];
  async mint(_signal: AbortSignal, hint?: { current: readonly Credential[] | null }): Promise<Credential[]> {
    this.hints.push(hint?.current ?? null);
    const n = ++this.n;
    await Promise.resolve();
    registerSecret(`exchange-token-${n}-`.padEnd(40, "e"));
    return [
      {
        registries: ["r.example.com"],
        username: "u",
        password: `password-${n}-`.padEnd(40, "p"),
        expiresAt: new Date(Date.now() + 2 * H),
      },
    ];
  }
}

it("masks the credential in use, forgets superseded ones, and stays bounded over many refreshes", async () => {
  registerSecret("configured-client-secret-value");
  const provider = new RotatingProvider();
  const { log } = captureLogger();
  const refresher = new Refresher([{ name: "r", kind: "test", policy, provider }], {
    log,
    metrics: new Metrics(),
    random: () => 0.5,
  });
  refresher.start();
  await refresher.settled();
  const after1 = registeredValues();
  await vi.advanceTimersByTimeAsync(500 * H); // a refresh every hour: 500 more credentials
  expect(provider.n).toBeGreaterThan(400);
  expect(registeredValues()).toBe(after1);
  const current = refresher.credentials().get("r")![0]!;
  const superseded = `password-${provider.n - 1}-`.padEnd(40, "p");
  expect(redact(`${current.password} ${superseded}`)).toBe(`${MASK} ${superseded}`);
  expect(redact(Buffer.from(`u:${current.password}`).toString("base64"))).toBe(MASK);
  expect(redact(`exchange-token-${provider.n}-`.padEnd(40, "e"))).toBe(MASK);
  expect(redact("configured-client-secret-value")).toBe(MASK);
  await refresher.stop();
});

it("tells the provider which credential the Secrets hold now", async () => {
  const provider = new RotatingProvider();
  const { log } = captureLogger();
  const refresher = new Refresher([{ name: "r", kind: "test", policy, provider }], {
    log,
    metrics: new Metrics(),
    random: () => 0.5,
  });
  refresher.start();
  await refresher.settled();
  await vi.advanceTimersByTimeAsync(1 * H);
  expect(provider.hints[0]).toBeNull();
  expect(provider.hints[1]![0]!.password).toBe("password-1-".padEnd(40, "p"));
  await refresher.stop();
});
