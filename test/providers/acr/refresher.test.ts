// The ACR provider under the real Refresher: expiry from the refresh token's exp drives the
// schedule, failures are classified and counted while the last good credential stays in use,
// recovery needs no restart, and no token or secret reaches the logs.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Refresher } from "../../../src/engine/refresher.ts";
import { underRefresher } from "../../helpers/provider-kit.ts";
import type { Metrics } from "../../../src/observe/metrics.ts";
import { DEFAULT_REFRESH, type RefreshPolicy } from "../../../src/base/refresh.ts";
import type { Provider } from "../../../providers/contract.ts";
import {
  REGISTRIES,
  SP_CLIENT,
  SP_SECRET,
  TENANT,
  captureLog,
  makeProvider,
  startHarness,
  writeSecretFile,
  type Harness,
} from "./harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 60_000);
afterAll(() => h?.close());

// Retries far away: each test drives attempts itself with refresher.refresh().
const POLICY: RefreshPolicy = { ...DEFAULT_REFRESH, retry: { initial: 3_600_000, max: 3_600_000 } };
const HALF = () => 0.5; // jitter * (2 * 0.5 - 1) = 0: no jitter

let refresher: Refresher | null = null;
afterEach(async () => {
  await refresher?.stop();
  refresher = null;
  h.acr.override = null;
  h.acr.refreshLifetime = 3 * 3600;
});

function run(provider: Provider, log = captureLog().log) {
  const built = underRefresher(provider, { kind: "acr", policy: POLICY, deps: { log, random: HALF } });
  refresher = built.refresher;
  return { refresher, metrics: built.metrics };
}

function spProvider(log = captureLog().log): Provider {
  return makeProvider(
    h,
    {
      auth: "servicePrincipal",
      tenantId: TENANT,
      clientId: SP_CLIENT,
      clientSecretFrom: { file: writeSecretFile(h, "secret", SP_SECRET) },
    },
    { log },
  );
}

async function failures(metrics: Metrics, reason: string): Promise<number> {
  const { values } = await metrics.refreshFailures.get();
  return values.find((v) => v.labels["reason"] === reason)?.value ?? 0;
}

describe("ACR provider under the refresher", () => {
  it("takes the expiry from the refresh token's exp and schedules the refresh at half its lifetime", async () => {
    h.acr.refreshLifetime = 3 * 3600; // what ACR issues
    const { refresher } = run(spProvider());
    const before = Date.now();
    refresher.start();
    await refresher.settled();
    const after = Date.now();

    const [status] = refresher.status();
    expect(status!.state).toBe("ok");
    const exps = h.acr.issued.slice(-2).map((t) => t.exp * 1000);
    expect(status!.expiresAt?.getTime()).toBe(Math.min(...exps));
    // at: 0.5 of the remaining lifetime, jitter pinned to 0: about 1.5 h after the mint.
    const expiresAt = status!.expiresAt!.getTime();
    const next = status!.nextRefreshAt!.getTime();
    expect(next).toBeGreaterThanOrEqual(before + (expiresAt - after) / 2);
    expect(next).toBeLessThanOrEqual(after + (expiresAt - before) / 2);
    expect(next - after).toBeGreaterThan(5_300_000);

    const creds = refresher.credentials().get("acr")!;
    expect(creds.flatMap((c) => c.registries).sort()).toEqual([...REGISTRIES].sort());
  });

  it("refreshes a short-lived token before it expires, never after the safety margin", async () => {
    h.acr.refreshLifetime = 20 * 60; // 20 minutes
    const { refresher } = run(spProvider());
    refresher.start();
    await refresher.settled();
    const [status] = refresher.status();
    const left = status!.expiresAt!.getTime() - status!.nextRefreshAt!.getTime();
    // Half of 20 min is 10 min before expiry; the 5 min margin is not binding here.
    expect(left).toBeGreaterThan(9 * 60_000);
    expect(left).toBeLessThanOrEqual(10 * 60_000 + 1_000);
  });

  it("counts a refresh token without a readable exp as invalid_response, keeping the last good one", async () => {
    const { refresher, metrics } = run(spProvider());
    refresher.start();
    await refresher.settled();
    const good = refresher.credentials().get("acr");
    expect(good).toHaveLength(2);

    h.acr.override = (_registry, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ refresh_token: "opaque-not-a-jwt-token-value" }));
      return true;
    };
    await refresher.refresh("acr");
    const [status] = refresher.status();
    expect(status!.state).toBe("failing");
    expect(status!.lastError?.reason).toBe("invalid_response");
    expect(status!.lastError?.message).toMatch(/not a JWT with an exp claim/);
    expect(status!.usable).toBe(true);
    expect(refresher.credentials().get("acr")).toBe(good);
    expect(await failures(metrics, "invalid_response")).toBe(1);
  });

  it.each([
    [401, "bad_credentials"],
    [403, "access_denied"],
    [429, "throttled"],
  ])("classifies an exchange answered %i as %s", async (status, reason) => {
    const { refresher, metrics } = run(spProvider());
    h.acr.override = (_registry, res) => {
      res.statusCode = status;
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          errors: [{ code: "DENIED", message: "requested access to the resource is denied" }],
        }),
      );
      return true;
    };
    refresher.start();
    await refresher.settled();
    expect(refresher.status()[0]!.lastError).toMatchObject({
      reason,
      message: expect.stringMatching(new RegExp(`HTTP ${status}: DENIED`)),
    });
    expect(await failures(metrics, reason)).toBe(1);
  });

  it("keeps the last good credential while Entra ID is down, counts the failures, and recovers without a restart", async () => {
    const { log, lines } = captureLog();
    const { refresher, metrics } = run(spProvider(log), log);
    refresher.start();
    await refresher.settled();
    const good = refresher.credentials().get("acr")!;
    const entraCalls = h.entra.tokenRequests().length;

    await h.entra.down();
    try {
      await refresher.refresh("acr");
      await refresher.refresh("acr");
    } finally {
      await h.entra.up();
    }
    let [status] = refresher.status();
    expect(status!.state).toBe("failing");
    expect(status!.lastError?.reason).toBe("network");
    expect(status!.lastError?.message).toMatch(/^Entra ID \(servicePrincipal\): network_error/);
    expect(status!.consecutiveFailures).toBe(2);
    expect(status!.usable).toBe(true);
    expect(refresher.credentials().get("acr")).toBe(good);
    expect(await failures(metrics, "network")).toBe(2);
    expect(h.entra.tokenRequests().length).toBe(entraCalls); // nothing reached it

    await refresher.refresh("acr");
    [status] = refresher.status();
    expect(status!.state).toBe("ok");
    expect(status!.lastError).toBeNull();
    expect(status!.consecutiveFailures).toBe(0);
    const fresh = refresher.credentials().get("acr")!;
    expect(fresh.map((c) => c.password)).not.toEqual(good.map((c) => c.password));
    expect(h.entra.tokenRequests().length).toBe(entraCalls + 1);
    expect(lines.some((l) => l.includes("recovered after failures"))).toBe(true);
  });

  it("writes no Entra token, refresh token or client secret into the logs", async () => {
    const { log, lines } = captureLog();
    const { refresher } = run(spProvider(log), log);
    refresher.start();
    await refresher.settled();
    // A failure too, so error objects (with their causes) are logged.
    h.acr.override = (_registry, res) => {
      res.statusCode = 401;
      res.end("{}");
      return true;
    };
    await refresher.refresh("acr");
    h.acr.override = null;
    await refresher.refresh("acr");

    const text = lines.join("");
    expect(lines.length).toBeGreaterThan(3);
    expect(text).toMatch(/refresh of acr failed \(bad_credentials\)/);
    expect(text).toMatch(/ACR refresh token minted/);
    const values = [SP_SECRET, ...[...h.entra.issued.keys()], ...h.acr.issued.map((t) => t.token)];
    expect(values.length).toBeGreaterThan(4);
    for (const value of values) {
      expect(text).not.toContain(value);
      // and not the JWT's payload alone, which is what a careless log of a decoded token would show
      if (value.split(".").length === 3) expect(text).not.toContain(value.split(".")[2]);
    }
  });
});
