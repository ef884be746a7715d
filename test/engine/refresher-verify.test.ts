// Verification before rollout through the real Refresher, with a scripted registry handshake:
// a rejected credential never replaces the one in use (failure, back-off, reason "rejected"),
// unreachable and unverifiable ones roll out marked so, and a stop aborts a check in flight.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Refresher, type RegistryRuntime } from "../../src/engine/refresher.ts";
import { DEFAULT_REFRESH, type RefreshPolicy } from "../../src/base/refresh.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import type { Verdict, VerifyRequest } from "../../src/registry/verify.ts";
import { captureLogger } from "../helpers/log.ts";
import { ScriptedProvider, ok } from "../helpers/fake-provider.ts";
import { find, parsePrometheus } from "../helpers/prom.ts";

const S = 1_000;
const H = 3_600 * S;
const T0 = Date.parse("2026-12-02T00:00:00Z");
const policy: RefreshPolicy = { ...DEFAULT_REFRESH, jitter: 0, retry: { initial: 5 * S, max: 60 * S } };
const at = (ms: number) => new Date(T0 + ms);
const LABELS = { registry: "reg", provider: "test" };

/** The registry's side: which passwords it accepts, and every request it got. */
class FakeRegistry {
  accepted = new Set<string>();
  answer: ((req: VerifyRequest) => Promise<Verdict>) | null = null;
  requests: VerifyRequest[] = [];
  check = (req: VerifyRequest): Promise<Verdict> => {
    this.requests.push(req);
    if (this.answer) return this.answer(req);
    return Promise.resolve(
      this.accepted.has(req.password)
        ? { result: "accepted", scheme: "basic" }
        : { result: "rejected", status: 401, message: `${req.host} answered 401` },
    );
  };
}

function setup(provider: ScriptedProvider, extra: Partial<RegistryRuntime> = {}) {
  const { log, lines } = captureLogger();
  const metrics = new Metrics();
  const registry = new FakeRegistry();
  const failures: Array<[string, string, string]> = [];
  const changes: string[] = [];
  const refresher = new Refresher(
    [{ name: "reg", kind: "test", policy, provider, verify: { timeout: 10 * S }, ...extra }],
    {
      log,
      metrics,
      random: () => 0.5,
      verify: registry.check,
      onChange: (r) => changes.push(r),
      onFailure: (r, reason, message) => failures.push([r, reason, message]),
    },
  );
  const samples = async () => parsePrometheus(await metrics.text());
  return { refresher, registry, failures, changes, lines, samples };
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Refresher: verify before rollout", () => {
  it("a credential the registry rejects never replaces the good one: failure, back-off, Event, metrics; recovery rolls out", async () => {
    const provider = new ScriptedProvider([
      ok("good-password-1", at(2 * H)),
      ok("wrong-password-2", at(3 * H)),
      ok("wrong-password-2", at(3 * H)),
      ok("good-password-3", at(4 * H)),
    ]);
    const { refresher, registry, failures, changes, lines, samples } = setup(provider);
    registry.accepted.add("good-password-1");
    registry.accepted.add("good-password-3");
    refresher.start();
    await refresher.settled();
    expect(refresher.credentials().get("reg")![0]!.password).toBe("good-password-1");
    expect(refresher.status()[0]!.verification).toMatchObject({ result: "accepted" });

    await refresher.refresh("reg", "test");
    expect(refresher.credentials().get("reg")![0]!.password).toBe("good-password-1");
    const st = refresher.status()[0]!;
    expect(st.state).toBe("failing");
    expect(st.lastError).toMatchObject({ reason: "rejected" });
    expect(st.lastError!.message).toContain("answered 401");
    // The credential in use is still the accepted one.
    expect(st.verification).toMatchObject({ result: "accepted" });
    expect(failures).toEqual([["reg", "rejected", expect.stringContaining("401")]]);
    expect(changes).toEqual(["reg"]);
    // Backs off like any failure: the next attempt is retry.initial later.
    expect(st.nextRefreshAt).toEqual(at(5 * S));
    let m = await samples();
    expect(
      find(m, "regcred_credential_verifications_total", { ...LABELS, result: "rejected" })[0]!.value,
    ).toBe(1);
    expect(find(m, "regcred_refresh_failures_total", { ...LABELS, reason: "rejected" })[0]!.value).toBe(1);
    expect(find(m, "regcred_credential_verified", LABELS)[0]!.value).toBe(1);

    await vi.advanceTimersByTimeAsync(5 * S); // rejected again, backing off to 10 s
    expect(refresher.status()[0]!.consecutiveFailures).toBe(2);
    expect(refresher.status()[0]!.nextRefreshAt).toEqual(at(15 * S));
    await vi.advanceTimersByTimeAsync(10 * S); // the provider is good again
    expect(refresher.credentials().get("reg")![0]!.password).toBe("good-password-3");
    expect(refresher.status()[0]!.state).toBe("ok");
    expect(changes).toEqual(["reg", "reg"]);
    m = await samples();
    expect(
      find(m, "regcred_credential_verifications_total", { ...LABELS, result: "rejected" })[0]!.value,
    ).toBe(2);
    expect(
      find(m, "regcred_credential_verifications_total", { ...LABELS, result: "accepted" })[0]!.value,
    ).toBe(2);
    // Each check was for the credential just minted, on its host.
    expect(registry.requests.map((r) => [r.host, r.password])).toEqual([
      ["registry.example.com", "good-password-1"],
      ["registry.example.com", "wrong-password-2"],
      ["registry.example.com", "wrong-password-2"],
      ["registry.example.com", "good-password-3"],
    ]);
    // No password in any log line, the rejected one included.
    expect(lines.join("")).not.toMatch(/good-password|wrong-password/);
    await refresher.stop();
  });

  it("an unreachable registry: the credential rolls out, marked unverified in status and metrics", async () => {
    const provider = new ScriptedProvider([ok("pw-unreachable", at(2 * H))]);
    const { refresher, registry, failures, lines, samples } = setup(provider);
    registry.answer = () =>
      Promise.resolve({ result: "unreachable", message: "registry.example.com: ENOTFOUND" });
    refresher.start();
    await refresher.settled();
    expect(refresher.credentials().get("reg")![0]!.password).toBe("pw-unreachable");
    expect(refresher.status()[0]).toMatchObject({
      state: "ok",
      registryCheck: true,
      verification: { result: "unreachable", message: "registry.example.com: ENOTFOUND" },
    });
    expect(failures).toEqual([]);
    const m = await samples();
    expect(find(m, "regcred_credential_verified", LABELS)[0]!.value).toBe(0);
    expect(
      find(m, "regcred_credential_verifications_total", { ...LABELS, result: "unreachable" })[0]!.value,
    ).toBe(1);
    expect(lines.join("")).toContain("rolled out unverified (unreachable)");
    await refresher.stop();
  });

  it("unverifiable (no credential asked, a 404 repository, wildcard keys) rolls out with its own label", async () => {
    const provider = new ScriptedProvider([
      ok("pw-a", at(2 * H)),
      ok("pw-b", at(2 * H)),
      ok("pw-c", at(2 * H), ["*.corp.example"]),
    ]);
    const { refresher, registry, samples } = setup(provider);
    registry.answer = (req) =>
      Promise.resolve(
        req.password === "pw-a"
          ? { result: "unverifiable", message: "registry.example.com/v2/ asks for no credential" }
          : {
              result: "rejected",
              status: 404,
              message: "registry.example.com (repository team/x) answered 404",
            },
      );
    refresher.start();
    await refresher.settled();
    expect(refresher.status()[0]!.verification).toMatchObject({ result: "unverifiable" });
    await refresher.refresh("reg");
    // A 404 is no verdict on the credential: it rolls out, it is not a failed refresh.
    expect(refresher.credentials().get("reg")![0]!.password).toBe("pw-b");
    expect(refresher.status()[0]!.verification!.message).toContain("not a verdict on the credential");
    await refresher.refresh("reg");
    expect(refresher.credentials().get("reg")![0]!.password).toBe("pw-c");
    expect(registry.requests).toHaveLength(2); // no host to ask for a wildcard key
    const m = await samples();
    expect(
      find(m, "regcred_credential_verifications_total", { ...LABELS, result: "unverifiable" })[0]!.value,
    ).toBe(3);
    expect(find(m, "regcred_credential_verified", LABELS)[0]!.value).toBe(0);
    await refresher.stop();
  });

  it("verify off: no check, no verification metric", async () => {
    const provider = new ScriptedProvider([ok("pw-off", at(2 * H))]);
    const { refresher, registry, samples } = setup(provider, { verify: null });
    refresher.start();
    await refresher.settled();
    expect(refresher.credentials().get("reg")![0]!.password).toBe("pw-off");
    expect(registry.requests).toEqual([]);
    expect(refresher.status()[0]).toMatchObject({ registryCheck: false, verification: null });
    const m = await samples();
    expect(find(m, "regcred_credential_verified")).toEqual([]);
    expect(find(m, "regcred_credential_verifications_total")).toEqual([]);
    await refresher.stop();
  });

  it("stop() aborts a check in flight: nothing rolls out after it, the check saw the abort", async () => {
    const provider = new ScriptedProvider([ok("pw-first", at(2 * H)), ok("pw-late", at(3 * H))]);
    const { refresher, registry, changes } = setup(provider);
    registry.accepted.add("pw-first");
    refresher.start();
    await refresher.settled();
    let seen: AbortSignal | undefined;
    registry.answer = (req) => {
      seen = req.signal;
      return new Promise(() => {}); // a registry that never answers and ignores the signal
    };
    const inFlight = refresher.refresh("reg");
    await vi.advanceTimersByTimeAsync(1);
    expect(seen?.aborted).toBe(false);
    await refresher.stop();
    await inFlight;
    expect(seen?.aborted).toBe(true);
    expect(refresher.credentials().get("reg")![0]!.password).toBe("pw-first");
    expect(changes).toEqual(["reg"]);
  });

  it("the mint's timeout does not cover the check: a slow registry is registryCheck.timeout's business", async () => {
    const provider = new ScriptedProvider([ok("pw-slow", at(2 * H))]);
    const { refresher, registry } = setup(provider, {
      policy: { ...policy, timeout: 2 * S },
      verify: { timeout: 5 * S },
    });
    registry.answer = (req) =>
      new Promise((resolve) =>
        setTimeout(() => resolve({ result: "accepted", scheme: "bearer" }), (req.timeoutMs ?? 0) - S),
      );
    refresher.start();
    await vi.advanceTimersByTimeAsync(5 * S);
    await refresher.settled();
    expect(registry.requests[0]!.timeoutMs).toBe(5 * S);
    expect(refresher.status()[0]).toMatchObject({ state: "ok", verification: { result: "accepted" } });
    await refresher.stop();
  });
});
