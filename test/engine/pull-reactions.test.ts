import { describe, expect, it } from "vitest";
import { PullReactor, type PodView, type PullReactionPorts } from "../../src/engine/pull-reactions.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import type { Namespace } from "../../src/engine/plan.ts";
import { captureLogger } from "../helpers/log.ts";
import { target } from "../helpers/config.ts";

// kubelet 1.35 + containerd 1.6 wording (TESTING.md "What kubelet reports").
const CORP = "registry.corp.example:5443";
const refused = (image: string) =>
  `Failed to pull image "${image}": failed to pull and unpack image "${image}": failed to resolve reference "${image}": pulling from host ${image.split("/")[0]} failed with status code [manifests v2]: 401 Unauthorized`;
const failed = (namespace: string, pod: string, image: string, uid = `uid-${pod}`) => ({
  namespace,
  pod,
  uid,
  type: "Warning",
  reason: "Failed",
  message: refused(image),
});

function setup(opts: { healing?: boolean; pods?: Record<string, Partial<PodView>>; sa?: string[] } = {}) {
  const calls = {
    refresh: [] as string[],
    reconcile: 0,
    deleted: [] as string[],
    events: [] as Array<{ pod: string; type: string; reason: string; message: string }>,
  };
  let clock = 1_000_000;
  const ports: PullReactionPorts = {
    namespaces: (): Namespace[] => [
      { name: "team-a", labels: { regcred: "on" } },
      { name: "other", labels: {} },
    ],
    keysByRegistry: () =>
      new Map([
        ["corp", [CORP]],
        ["hub", ["https://index.docker.io/v1/"]],
      ]),
    refresh: async (registry) => {
      calls.refresh.push(registry);
      return { ok: true, detail: "a new credential was minted and written to the Secrets" };
    },
    reconcile: () => void calls.reconcile++,
    readPod: async (_ns, name) => ({
      uid: `uid-${name}`,
      serviceAccount: "default",
      pullSecrets: ["pull"],
      controller: { kind: "ReplicaSet", name: "app-1" },
      deleting: false,
      ...opts.pods?.[name],
    }),
    serviceAccountSecrets: async () => opts.sa ?? ["pull"],
    deletePod: async (pod) => {
      calls.deleted.push(`${pod.name}/${pod.uid}`);
      return true;
    },
    event: (pod, type, reason, message) => calls.events.push({ pod: pod.name, type, reason, message }),
  };
  const metrics = new Metrics();
  const reactor = new PullReactor({
    targets: [
      target({
        name: "pull",
        registries: ["corp"],
        namespaces: { include: ["*"], exclude: [], selector: { matchLabels: { regcred: "on" } } },
      }),
    ],
    ports,
    log: captureLogger().log,
    metrics,
    minIntervalMs: 60_000,
    healing: { enabled: opts.healing ?? false, maxPerMinute: 2 },
    now: () => clock,
  });
  return { reactor, calls, metrics, tick: (ms: number) => (clock += ms) };
}

describe("PullReactor: refresh on pull failure", () => {
  it("20 Pods refused at once: one refresh of the registry, an Event on every Pod, failures counted", async () => {
    const { reactor, calls, metrics } = setup();
    const reactions = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        reactor.react(failed("team-a", `app-${i}`, `${CORP}/team/app:v1`)),
      ),
    );
    expect(calls.refresh).toEqual(["corp"]);
    expect(reactions.filter((r) => r === "refreshed")).toHaveLength(1);
    expect(reactions.filter((r) => r === "rate-limited")).toHaveLength(19);
    expect(calls.events).toHaveLength(20);
    expect(calls.events.every((e) => e.reason === "PullCredentialRefreshed")).toBe(true);
    const text = await metrics.text();
    expect(text).toContain('regcred_pull_failures_total{registry="corp",reason="unauthorized"} 20');
    expect(text).toContain('regcred_pull_failure_refreshes_total{registry="corp"} 1');
  });

  it("refreshes again once the window has passed", async () => {
    const { reactor, calls, tick } = setup();
    await reactor.react(failed("team-a", "a", `${CORP}/team/app:v1`));
    tick(59_000);
    await reactor.react(failed("team-a", "a", `${CORP}/team/app:v1`));
    tick(2_000);
    await reactor.react(failed("team-a", "a", `${CORP}/team/app:v1`));
    expect(calls.refresh).toEqual(["corp", "corp"]);
  });

  it("an unselected namespace, an unmanaged registry, a failure a credential cannot fix: nothing", async () => {
    const { reactor, calls, metrics } = setup();
    expect(await reactor.react(failed("other", "a", `${CORP}/team/app:v1`))).toBe("ignored");
    expect(await reactor.react(failed("gone-ns", "a", `${CORP}/team/app:v1`))).toBe("ignored");
    expect(await reactor.react(failed("team-a", "a", "ghcr.io/org/app:v1"))).toBe("ignored");
    // A port is part of the host for kubelet: registry.corp.example is not registry.corp.example:5443.
    expect(await reactor.react(failed("team-a", "a", "registry.corp.example/team/app:v1"))).toBe("ignored");
    // Docker Hub is managed (registry "hub"), but not written into team-a.
    expect(await reactor.react(failed("team-a", "a", "rig/hub-app:v1"))).toBe("ignored");
    expect(
      await reactor.react({
        namespace: "team-a",
        pod: "a",
        type: "Warning",
        reason: "Failed",
        message: `Failed to pull image "${CORP}/team/app:v9": rpc error: code = NotFound desc = ${CORP}/team/app:v9: not found`,
      }),
    ).toBe("ignored");
    expect(calls).toMatchObject({ refresh: [], reconcile: 0, deleted: [], events: [] });
    expect(await metrics.text()).not.toMatch(/regcred_pull_failures_total\{/);
  });

  it("an Event about an older Pod of the same name changes nothing", async () => {
    const { reactor, calls } = setup();
    expect(await reactor.react(failed("team-a", "web-0", `${CORP}/team/app:v1`, "uid-of-the-old-one"))).toBe(
      "ignored",
    );
    expect(calls.refresh).toEqual([]);
  });

  it("a missing Secret of regcred's: one reconcile per namespace in the window; someone else's: nothing", async () => {
    const { reactor, calls } = setup();
    const missing = (secrets: string) => ({
      namespace: "team-a",
      pod: "a",
      uid: "uid-a",
      type: "Warning",
      reason: "FailedToRetrieveImagePullSecret",
      message: `Unable to retrieve some image pull secrets (${secrets}); attempting to pull the image may not succeed.`,
    });
    expect(await reactor.react(missing("theirs"))).toBe("ignored");
    expect(await reactor.react(missing("pull"))).toBe("reconciled");
    expect(await reactor.react(missing("pull, theirs"))).toBe("rate-limited");
    expect(calls.reconcile).toBe(1);
    expect(calls.events.map((e) => e.reason)).toEqual(["PullSecretReapplied"]);
  });

  it("a non-leader (aborted signal) reacts to nothing", async () => {
    const { calls } = setup();
    const stopped = new AbortController();
    stopped.abort();
    const r = new PullReactor({
      targets: [target({ name: "pull", registries: ["corp"] })],
      ports: {
        namespaces: () => [{ name: "team-a", labels: {} }],
        keysByRegistry: () => new Map([["corp", [CORP]]]),
        refresh: async (registry) => (calls.refresh.push(registry), { ok: true, detail: "" }),
        reconcile: () => {},
        readPod: async () => null,
        serviceAccountSecrets: async () => null,
        deletePod: async () => true,
        event: () => {},
      },
      log: captureLogger().log,
      metrics: new Metrics(),
      minIntervalMs: 1000,
      healing: { enabled: true, maxPerMinute: 1 },
      signal: stopped.signal,
    });
    expect(await r.react(failed("team-a", "a", `${CORP}/team/app:v1`))).toBe("ignored");
    expect(calls.refresh).toEqual([]);
  });
});

describe("PullReactor: healing Pods created before their ServiceAccount was wired", () => {
  const bare = { pullSecrets: [] };

  it("healing off: no refresh (it cannot help), no delete, a Warning Event saying why", async () => {
    const { reactor, calls, metrics } = setup({ pods: { a: bare } });
    expect(await reactor.react(failed("team-a", "a", `${CORP}/team/app:v1`))).toBe("stuck");
    expect(calls.refresh).toEqual([]);
    expect(calls.deleted).toEqual([]);
    expect(calls.events[0]).toMatchObject({ type: "Warning", reason: "PodLacksPullSecret" });
    expect(calls.events[0]!.message).toContain("ServiceAccount default");
    expect(await metrics.text()).toContain('regcred_pod_heals_total{registry="corp",result="disabled"} 1');
  });

  it("healing on: the Pod is deleted once, by UID; its next failure Events change nothing", async () => {
    const { reactor, calls, metrics } = setup({ healing: true, pods: { a: bare } });
    expect(await reactor.react(failed("team-a", "a", `${CORP}/team/app:v1`))).toBe("healed");
    expect(await reactor.react(failed("team-a", "a", `${CORP}/team/app:v1`))).toBe("stuck");
    expect(calls.deleted).toEqual(["a/uid-a"]);
    expect(calls.events[0]).toMatchObject({ reason: "PodRecreatedForPullSecret" });
    expect(calls.events[0]!.message).toContain("ReplicaSet app-1 recreates it");
    expect(await metrics.text()).toContain('regcred_pod_heals_total{registry="corp",result="deleted"} 1');
  });

  it("never a Pod without a controller, never one whose ServiceAccount is not wired, never outside the selection", async () => {
    const noOwner = setup({ healing: true, pods: { a: { ...bare, controller: null } } });
    expect(await noOwner.reactor.react(failed("team-a", "a", `${CORP}/team/app:v1`))).toBe("stuck");
    expect(noOwner.calls.deleted).toEqual([]);
    const unwired = setup({ healing: true, pods: { a: bare }, sa: ["someone-elses"] });
    expect(await unwired.reactor.react(failed("team-a", "a", `${CORP}/team/app:v1`))).toBe("not-wired");
    expect(unwired.calls.deleted).toEqual([]);
    expect(unwired.calls.reconcile).toBe(1);
    // Admission fills in the ServiceAccount's list only for a Pod that names none.
    const own = setup({ healing: true, pods: { a: { pullSecrets: ["theirs"] } } });
    expect(await own.reactor.react(failed("team-a", "a", `${CORP}/team/app:v1`))).toBe("stuck");
    expect(own.calls.deleted).toEqual([]);
    expect(own.calls.refresh).toEqual([]);
    expect(own.calls.events[0]!.message).toContain("lists its own imagePullSecrets (theirs)");
    const outside = setup({ healing: true, pods: { a: bare } });
    expect(await outside.reactor.react(failed("other", "a", `${CORP}/team/app:v1`))).toBe("ignored");
    expect(outside.calls.deleted).toEqual([]);
  });

  it("deletions are rate-limited (maxPerMinute), then refill", async () => {
    const { reactor, calls, tick } = setup({ healing: true, pods: { a: bare, b: bare, c: bare } });
    for (const p of ["a", "b", "c"]) await reactor.react(failed("team-a", p, `${CORP}/team/app:v1`));
    expect(calls.deleted).toEqual(["a/uid-a", "b/uid-b"]);
    tick(30_000);
    await reactor.react(failed("team-a", "c", `${CORP}/team/app:v1`));
    expect(calls.deleted).toEqual(["a/uid-a", "b/uid-b", "c/uid-c"]);
  });
});
