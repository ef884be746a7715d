// The icr provider under the real Refresher, talking HTTPS to the fake IAM, with fake timers
// (setTimeout and Date; the sockets are real): the expiry comes from IAM's answer, the token is
// replaced before it expires, IAM failures keep the last good token until its own expiry and
// back off without a hot loop, and neither the API key nor any token reaches the logs.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { Refresher } from "../../../src/engine/refresher.ts";
import { underRefresher } from "../../helpers/provider-kit.ts";
import { DEFAULT_REFRESH, type RefreshPolicy } from "../../../src/base/refresh.ts";
import type { Provider } from "../../../providers/contract.ts";
import { captureLogger } from "../../helpers/log.ts";
import { serviceAccountToken } from "./fake-iam.ts";
import { CLUSTER_ISSUER, apiKeyProvider, icr, startHarness, writeFile, type Harness } from "./harness.ts";

const S = 1000;
const M = 60 * S;
const H = 60 * M;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 60_000);
afterAll(() => h?.close());

let refresher: Refresher | null = null;
let t0 = 0;
let base = 0;
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: new Date("2027-03-01T08:00:00Z") });
  t0 = Date.now();
  base = h.iam.requests.length;
});

/** This test's IAM token requests. */
const requests = () => h.iam.requests.slice(base).filter((r) => r.path === "/identity/token");
afterEach(async () => {
  await refresher?.stop();
  refresher = null;
  vi.useRealTimers();
  h.iam.override = null;
  h.iam.expiryFields = "both";
  h.iam.tokenLifetime = 3600;
});

/** Counts mints in flight, so the test waits for real I/O before moving the fake clock on. */
function tracked(inner: Provider): { provider: Provider; idle(): Promise<void> } {
  let pending = 0;
  return {
    provider: {
      async mint(signal) {
        pending++;
        try {
          return await inner.mint(signal);
        } finally {
          pending--;
        }
      },
      ...(inner.watch ? { watch: inner.watch.bind(inner) } : {}),
    },
    async idle() {
      // setImmediate is not faked: each turn lets sockets and the refresher's callbacks run.
      do await new Promise((r) => setImmediate(r));
      while (pending > 0);
      await new Promise((r) => setImmediate(r));
    },
  };
}

function run(provider: Provider, policy: RefreshPolicy = DEFAULT_REFRESH, capture = captureLogger()) {
  const t = tracked(provider);
  // random: the midpoint, jitter * (2 * 0.5 - 1) = 0
  const { refresher: r, metrics } = underRefresher(t.provider, { kind: "icr", policy, capture });
  refresher = r;
  return {
    refresher: r,
    metrics,
    lines: capture.lines,
    async start() {
      r.start();
      await t.idle();
    },
    /** Moves the fake clock by ms in steps, letting every mint it triggers finish in between. */
    async advance(ms: number, step = S) {
      for (let done = 0; done < ms; done += step) {
        await vi.advanceTimersByTimeAsync(Math.min(step, ms - done));
        await t.idle();
      }
    },
  };
}

/** Times of IAM token requests since t0, in ms. */
const calls = (since = 0) =>
  requests()
    .slice(since)
    .map((r) => r.at - t0);

describe("icr provider under the refresher", () => {
  it("takes the expiry from IAM's answer and replaces every token at half its life, well before it expires", async () => {
    const before = h.iam.issued.length;
    const r = run(apiKeyProvider(h).provider);
    await r.start();
    const [status] = r.refresher.status();
    expect(status!.state).toBe("ok");
    expect(status!.expiresAt).toEqual(new Date(h.iam.issued.at(-1)!.expiration * 1000));
    expect(status!.expiresAt!.getTime() - t0).toBe(H);
    expect(status!.nextRefreshAt!.getTime() - t0).toBe(30 * M);

    await r.advance(30 * M - 10 * S, 10 * S);
    expect(calls()).toEqual([0]);
    await r.advance(6 * H - (30 * M - 10 * S), 10 * S);
    // One call at start, then one every 30 minutes: 13 in 6 hours, not one more.
    expect(calls()).toEqual(Array.from({ length: 13 }, (_, i) => i * 30 * M));
    const issued = h.iam.issued.slice(before);
    expect(issued).toHaveLength(13);
    for (let i = 1; i < issued.length; i++) {
      // Each replacement happened half an hour before the previous token expired.
      expect(issued[i - 1]!.expiration * 1000 - (t0 + calls()[i]!)).toBe(30 * M);
    }
    expect(r.refresher.credentials().get("icr")![0]!.password).toBe(issued.at(-1)!.token);
  });

  it("schedules a 20-minute token from expires_in alone at 10 minutes", async () => {
    h.iam.expiryFields = "expires_in";
    h.iam.tokenLifetime = 20 * 60;
    const r = run(apiKeyProvider(h).provider);
    await r.start();
    const [status] = r.refresher.status();
    expect(status!.expiresAt!.getTime() - t0).toBe(20 * M);
    expect(status!.nextRefreshAt!.getTime() - t0).toBe(10 * M);
    await r.advance(25 * M, 10 * S);
    expect(calls()).toEqual([0, 10 * M, 20 * M]);
  });

  it("keeps the last good token while IAM fails, backs off (no hot loop), drops it at its expiry, recovers by itself", async () => {
    const r = run(apiKeyProvider(h).provider);
    await r.start();
    const good = r.refresher.credentials().get("icr")!;
    const expiresAt = r.refresher.status()[0]!.expiresAt!.getTime();

    h.iam.override = (_form, res) => {
      h.iam.fail(res, 503, "BXNIM0501E", "Service temporarily unavailable.");
      return true;
    };
    await r.advance(59 * M);
    // Refresh due at 30 min fails; retries after 5 s, 10 s, 20 s, ... capped at 5 min.
    const failing = calls(1);
    const gaps = failing.slice(1).map((c, i) => c - failing[i]!);
    expect(failing[0]).toBe(30 * M);
    expect(gaps).toEqual([
      5 * S,
      10 * S,
      20 * S,
      40 * S,
      80 * S,
      160 * S,
      300 * S,
      300 * S,
      300 * S,
      300 * S,
    ]);
    let [status] = r.refresher.status();
    expect(status).toMatchObject({ state: "failing", usable: true, consecutiveFailures: 11 });
    expect(status!.lastError).toMatchObject({
      reason: "network",
      message: expect.stringContaining("[503 BXNIM0501E] Service temporarily unavailable."),
    });
    expect(r.refresher.credentials().get("icr")).toBe(good);

    // Past the token's own expiry with IAM still failing: the token is dropped, not kept forever.
    await r.advance(expiresAt - Date.now() + S);
    expect(r.refresher.credentials().has("icr")).toBe(false);

    h.iam.override = null;
    const n = calls().length;
    await r.advance(5 * M);
    expect(calls().length).toBe(n + 1); // the next back-off attempt, once
    [status] = r.refresher.status();
    expect(status).toMatchObject({ state: "ok", consecutiveFailures: 0, lastError: null });
    expect(r.refresher.credentials().get("icr")![0]!.password).toBe(h.iam.issued.at(-1)!.token);
    expect(r.lines.some((l) => l.includes("recovered after failures"))).toBe(true);
  });

  it("keeps the last good token with IAM unreachable and counts network failures", async () => {
    const r = run(apiKeyProvider(h).provider);
    await r.start();
    const good = r.refresher.credentials().get("icr")!;
    await h.iam.down();
    try {
      await r.advance(30 * M + 20 * S);
    } finally {
      await h.iam.up();
    }
    const [status] = r.refresher.status();
    expect(status).toMatchObject({ state: "failing", usable: true, consecutiveFailures: 3 });
    expect(status!.lastError!.reason).toBe("network");
    const { values } = await r.metrics.refreshFailures.get();
    expect(values.find((v) => v.labels["reason"] === "network")?.value).toBe(3);
    expect(r.refresher.credentials().get("icr")).toBe(good);
  });

  it("reads the kubelet's rotated compute-resource token on each refresh (trusted profile)", async () => {
    const token = (n: number) =>
      serviceAccountToken(h.clusterKey, {
        issuer: CLUSTER_ISSUER,
        namespace: "regcred",
        serviceAccount: "regcred",
        lifetime: 3600 + n,
      });
    const first = token(0);
    const file = writeFile(h, "sa-token", first);
    const r = run(icr(h, { trustedProfile: { profileId: h.profile.id, crTokenFile: file } }).provider);
    await r.start();
    const second = token(1);
    writeFile(h, "sa-token", second);
    await r.advance(30 * M, 10 * S);
    const sent = requests().map((q) => q.form["cr_token"]);
    expect(sent).toEqual([first, second]);
    expect(r.refresher.status()[0]!.state).toBe("ok");
  });

  it("writes neither the API key nor any token into the logs, even when an error answer quotes the key", async () => {
    const capture = captureLogger("debug");
    const r = run(apiKeyProvider(h, h.apiKey, { capture }).provider, DEFAULT_REFRESH, capture);
    await r.start();
    // A misbehaving proxy or IAM echoing the request back in its error.
    h.iam.override = (form, res) => {
      h.iam.fail(res, 400, "BXNIM0415E", "Provided API key could not be found.", `apikey=${form["apikey"]}`);
      return true;
    };
    await r.advance(31 * M);
    h.iam.override = null;
    await r.advance(5 * M);

    const text = capture.lines.join("");
    expect(text).toMatch(/refresh of icr failed \(bad_credentials\): IAM token \(apikey\) .*BXNIM0415E/);
    expect(text).toMatch(/IAM access token minted/);
    expect(text).toMatch(/recovered after failures/);
    const values = [h.apiKey, ...h.iam.issued.filter((t) => t.grant.endsWith("apikey")).map((t) => t.token)];
    for (const v of values) {
      expect(text).not.toContain(v);
      expect(text).not.toContain(Buffer.from(v).toString("base64"));
      expect(text).not.toContain(Buffer.from(`iambearer:${v}`).toString("base64"));
    }
  });
});
