// EventRecorder against the rig's real kube-apiserver: events.k8s.io/v1 Events as the server
// stores them, rate limiting per (object, reason) and globally, redaction, and failures that
// never throw. The recorder authenticates as a ServiceAccount with only `create` on
// events.k8s.io events (the RBAC the chart must grant).
import { randomBytes } from "node:crypto";
import {
  CoreV1Api,
  EventsV1Api,
  RbacAuthorizationV1Api,
  V1MicroTime,
  type EventsV1Event,
  type KubeConfig,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventRecorder, type EventRecorderOptions } from "../../../src/kube/events.ts";
import { registerSecret } from "../../../src/base/redact.ts";
import { captureLogger } from "../../helpers/log.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { sharedCluster } from "../../rig/shared.ts";

const MIN = 60_000;

describe("EventRecorder on the shared cluster", () => {
  const cluster = sharedCluster();
  const admin = cluster.kubeConfig();
  const events = admin.makeApiClient(EventsV1Api);
  let ns: NamespaceSet;
  let kc: KubeConfig;
  let run = "";

  beforeAll(async () => {
    run = randomBytes(3).toString("hex");
    ns = await createNamespaces(admin, "events", ["a", "b", "c", "d", "e", "f"]);
    const home = ns.names[0]!;
    await admin
      .makeApiClient(CoreV1Api)
      .createNamespacedServiceAccount({ namespace: home, body: { metadata: { name: "recorder" } } });
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createClusterRole({
      body: {
        metadata: { name: `regcred-events-${run}` },
        rules: [{ apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create"] }],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: `regcred-events-${run}` },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "ClusterRole",
          name: `regcred-events-${run}`,
        },
        subjects: [{ kind: "ServiceAccount", name: "recorder", namespace: home }],
      },
    });
    kc = cluster.kubeConfigForToken(await cluster.serviceAccountToken(home, "recorder"));
  });
  afterAll(async () => {
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await rbac.deleteClusterRoleBinding({ name: `regcred-events-${run}` }).catch(() => {});
    await rbac.deleteClusterRole({ name: `regcred-events-${run}` }).catch(() => {});
    await ns?.cleanup();
  });

  function recorder(opts: Partial<EventRecorderOptions> = {}) {
    const logs = captureLogger();
    const rec = new EventRecorder({
      kc,
      component: "regcred",
      instance: "regcred-7d9f-abcde",
      log: logs.log,
      ...opts,
    });
    return { rec, logs };
  }

  /** Events in `namespace` about the object named `name` (the admin's view of the server). */
  async function eventsAbout(namespace: string, name: string): Promise<EventsV1Event[]> {
    const list = await events.listNamespacedEvent({ namespace });
    return list.items
      .filter((e) => e.regarding?.name === name)
      .sort((x, y) => String(x.eventTime).localeCompare(String(y.eventTime)));
  }

  function secretRef(namespace: string, name: string) {
    return { kind: "Secret", apiVersion: "v1", namespace, name, uid: "0b5e4d8e-1111-4c1e-9a7a-3b2f4a5c6d7e" };
  }

  it("posts Warning and Normal events with the regarding object, reason, type and reporting fields", async () => {
    const { rec, logs } = recorder();
    const namespace = ns.names[0]!;
    rec.warning(
      secretRef(namespace, "pull-warn"),
      "WriteFailed",
      "could not write Secret: 422 Invalid",
      "Apply",
    );
    rec.normal(secretRef(namespace, "pull-normal"), "Updated", "Secret updated with 2 registries");
    await rec.flush();

    const [warn] = await eventsAbout(namespace, "pull-warn");
    expect(warn).toBeDefined();
    expect(warn).toMatchObject({
      type: "Warning",
      reason: "WriteFailed",
      action: "Apply",
      note: "could not write Secret: 422 Invalid",
      reportingController: "regcred.io/regcred",
      reportingInstance: "regcred-7d9f-abcde",
      regarding: {
        kind: "Secret",
        apiVersion: "v1",
        namespace,
        name: "pull-warn",
        uid: "0b5e4d8e-1111-4c1e-9a7a-3b2f4a5c6d7e",
      },
    });
    expect(warn!.metadata?.namespace).toBe(namespace);
    // MicroTime, as the server stores it.
    expect(String(warn!.eventTime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(Math.abs(Date.now() - Date.parse(String(warn!.eventTime)))).toBeLessThan(30_000);

    const [normal] = await eventsAbout(namespace, "pull-normal");
    expect(normal).toMatchObject({
      type: "Normal",
      reason: "Updated",
      action: "Updated",
      reportingController: "regcred.io/regcred",
      regarding: { kind: "Secret", name: "pull-normal", namespace },
    });
    expect(logs.lines.filter((l) => l.includes("could not post event"))).toEqual([]);
  });

  it("50 warnings for one object and reason make one Event; the next after the window carries the count", async () => {
    let now = Date.now();
    const { rec } = recorder({ now: () => now, perKeyIntervalMs: 5 * MIN });
    const namespace = ns.names[1]!;
    for (let i = 1; i <= 50; i++) {
      rec.warning(secretRef(namespace, "pull"), "WriteFailed", `attempt ${i}: 503 Service Unavailable`);
    }
    await rec.flush();
    let found = await eventsAbout(namespace, "pull");
    expect(found.map((e) => e.note)).toEqual(["attempt 1: 503 Service Unavailable"]);

    // Another reason for the same object is its own key.
    rec.warning(secretRef(namespace, "pull"), "Conflict", "Secret exists and is not managed by regcred");
    // After the window, the latest message with the count of what was held back.
    now += 5 * MIN;
    rec.warning(secretRef(namespace, "pull"), "WriteFailed", "attempt 51: 503 Service Unavailable");
    await rec.flush();
    found = await eventsAbout(namespace, "pull");
    expect(found.map((e) => `${e.reason}: ${e.note}`).sort()).toEqual([
      "Conflict: Secret exists and is not managed by regcred",
      "WriteFailed: attempt 1: 503 Service Unavailable",
      "WriteFailed: attempt 51: 503 Service Unavailable (49 similar events suppressed)",
    ]);
  });

  it("different objects each get their Event, up to the global burst", async () => {
    let now = Date.now();
    const { rec } = recorder({ now: () => now, burst: 5, refillPerSecond: 1 });
    const targets = ns.names.slice(1, 5); // 4 namespaces x 2 Secrets = 8 objects
    const objects = targets.flatMap((n) => [secretRef(n, "storm-x"), secretRef(n, "storm-y")]);
    for (const o of objects) rec.warning(o, "WriteFailed", `storm in ${o.namespace}`);
    await rec.flush();
    const counts = await Promise.all(
      objects.map(async (o) => (await eventsAbout(o.namespace, o.name)).length),
    );
    expect(counts.reduce((a, b) => a + b, 0)).toBe(5);
    expect(counts.every((c) => c <= 1)).toBe(true);

    // Two seconds of refill: two of the dropped objects get theirs, saying one was dropped.
    now += 2_000;
    for (const o of objects) rec.warning(o, "WriteFailed", `storm in ${o.namespace}`);
    await rec.flush();
    const all = (await Promise.all(objects.map((o) => eventsAbout(o.namespace, o.name)))).flat();
    expect(all).toHaveLength(7);
    expect(all.filter((e) => e.note?.endsWith("(1 similar event suppressed)"))).toHaveLength(2);
  });

  it("redacts registered secrets before the note leaves, also when the note is truncated", async () => {
    const secret = `ghp_${randomBytes(18).toString("hex")}`;
    registerSecret(secret);
    const { rec } = recorder();
    const namespace = ns.names[5]!;
    rec.warning(
      secretRef(namespace, "leaky"),
      "MintFailed",
      `upstream said: bad credentials for token ${secret}`,
    );
    // 1,024 bytes is the API server's limit for a note. Here the secret straddles it: cutting
    // before redacting would leave its first 8 characters behind.
    rec.warning(secretRef(namespace, "long"), "MintFailed", "x".repeat(1_013) + secret);
    await rec.flush();

    const [leaky] = await eventsAbout(namespace, "leaky");
    expect(leaky?.note).toBe("upstream said: bad credentials for token **redacted**");
    const [long] = await eventsAbout(namespace, "long");
    expect(Buffer.byteLength(long!.note!)).toBeLessThanOrEqual(1_024);
    expect(long!.note).toMatch(/^x{1013}\*\*redact\.\.\.$/);
    expect(long!.note).not.toContain(secret.slice(0, 8));
  });

  it("puts Events about cluster-scoped objects in `default`, the only namespace the server accepts besides kube-system", async () => {
    const { rec, logs } = recorder();
    const nsName = ns.names[2]!;
    rec.warning(
      { kind: "Namespace", apiVersion: "v1", name: nsName },
      "SelectorInvalid",
      "label selector did not parse",
    );
    await rec.flush();
    expect(logs.lines.filter((l) => l.includes("could not post event"))).toEqual([]);
    const [ev] = await eventsAbout("default", nsName);
    expect(ev).toMatchObject({ regarding: { kind: "Namespace", name: nsName }, reason: "SelectorInvalid" });

    // Why there is no "own namespace" option: the server refuses it (422).
    const err = (await events
      .createNamespacedEvent({
        namespace: ns.names[0]!,
        body: {
          metadata: { name: `cluster-scoped.${run}` },
          eventTime: new V1MicroTime(),
          type: "Warning",
          reason: "SelectorInvalid",
          action: "SelectorInvalid",
          reportingController: "regcred.io/regcred",
          reportingInstance: "x",
          regarding: { kind: "Namespace", apiVersion: "v1", name: nsName },
        },
      })
      .then(
        () => ({}),
        (e: unknown) => e,
      )) as { code?: number; body?: unknown };
    expect(err).toMatchObject({ code: 422 });
    expect(String(err.body)).toContain("does not match event.namespace");
  });

  it("never throws: a missing namespace is logged at debug, a refused identity at warn", async () => {
    const { rec, logs } = recorder();
    expect(() => rec.warning(secretRef(`gone-${run}`, "s"), "WriteFailed", "m")).not.toThrow();
    await rec.flush();
    const gone = logs.records().filter((r) => String(r["msg"]).startsWith("could not post event"));
    expect(gone).toEqual([expect.objectContaining({ level: "debug", status: 404 })]);

    const bad = captureLogger();
    const denied = new EventRecorder({
      kc: cluster.kubeConfigForToken("not-a-valid-token"),
      component: "regcred",
      instance: "i",
      log: bad.log,
    });
    expect(() => denied.normal(secretRef(ns.names[0]!, "s"), "Updated", "m")).not.toThrow();
    await denied.flush();
    expect(bad.records().filter((r) => String(r["msg"]).startsWith("could not post event"))).toEqual([
      expect.objectContaining({ level: "warn", status: 401 }),
    ]);
  });
});
