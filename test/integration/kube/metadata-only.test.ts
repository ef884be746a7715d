// Secret data on the wire, counted at a proxy in front of the real API server: regcred's Secret
// watches and the answers to its own writes are metadata only, so a credential reaches the
// daemon from the start-up list and from a Secret someone else edited (read once by name),
// never as the echo of what it wrote itself. Drift on data still works from that one read.
import { randomBytes } from "node:crypto";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { ScriptedProvider, ok } from "../../helpers/fake-provider.ts";
import { leastPrivilege, type LeastPrivilege } from "./least-rbac.ts";
import { CountingProxy, type SeenRequest } from "./counting-proxy.ts";
import { hours, passwordOf, runDaemon, secretIn, type Running } from "./kit.ts";

const cluster = sharedCluster();
const core = cluster.kubeConfig().makeApiClient(CoreV1Api);

describe("Secret data reaches regcred only from lists and from edits by someone else", () => {
  const run = randomBytes(3).toString("hex");
  const name = `pull-${run}`;
  let regcred: LeastPrivilege;
  let ns: NamespaceSet;
  let proxy: CountingProxy;
  let running: Running;
  const provider = new ScriptedProvider([ok("pw-meta-1", hours(12))]);
  const secretRequests = (): SeenRequest[] =>
    proxy.requests.filter((r) => r.path === "/api/v1/secrets" || /\/secrets(\/|$)/.test(r.path));
  const oneSecretGets = () =>
    secretRequests().filter((r) => r.method === "GET" && !r.watch && r.path.endsWith(`/secrets/${name}`));

  beforeAll(async () => {
    regcred = await leastPrivilege(cluster, randomBytes(3).toString("hex"), []);
    ns = await createNamespaces(cluster.kubeConfig(), `meta-${run}`, 4, { "regcred-test": run });
    proxy = await CountingProxy.start(cluster);
    await regcred.grant([name]);
    running = await runDaemon(
      proxy.kubeConfig(regcred.kc.getCurrentUser()!.token!),
      provider,
      `
secrets:
  - name: ${name}
    registries: [hub]
    namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } }
refresh: { jitter: 0, minInterval: 1s }
kubernetes: { instance: meta-${run} }
`,
    );
  }, 120_000);
  afterAll(async () => {
    await running?.daemon.stop();
    await proxy?.stop();
    await ns?.cleanup();
    await regcred?.cleanup();
  });

  it("creates and rotations move no Secret data towards regcred, and read nothing back", async () => {
    for (const n of ns.names) expect(passwordOf(await secretIn(core, n, name))).toBe("pw-meta-1");
    provider.script([ok("pw-meta-2", hours(12))]);
    await running.daemon.refresher.refresh("hub");
    await running.daemon.sync.idle();
    for (const n of ns.names) expect(passwordOf(await secretIn(core, n, name))).toBe("pw-meta-2");

    const watches = secretRequests().filter((r) => r.watch);
    const writes = secretRequests().filter((r) => r.method === "POST" || r.method === "PATCH");
    expect(watches.length).toBeGreaterThan(0);
    // Every create and its apply, then every rotation's apply.
    expect(writes.length).toBe(ns.names.length * 3);
    // The events of all those writes came through the watch, without data.
    expect(watches.flatMap((w) => w.events).filter((e) => e.type === "MODIFIED").length).toBeGreaterThan(0);
    for (const r of [...watches, ...writes]) {
      expect(r.accept).toContain("as=PartialObjectMetadata");
      expect(r.carriedData).toBe(false);
    }
    expect(oneSecretGets()).toEqual([]);
  });

  it("an edit of the data by someone else is read once by name and undone", async () => {
    const target = ns.names[1]!;
    const live = (await secretIn(core, target, name))!;
    const tampered = Buffer.from(JSON.stringify({ auths: { "evil.example.com": { auth: "ZTpl" } } }));
    await core.replaceNamespacedSecret({
      namespace: target,
      name,
      body: { ...live, data: { ".dockerconfigjson": tampered.toString("base64") } },
    });
    await vi.waitFor(async () => expect(passwordOf(await secretIn(core, target, name))).toBe("pw-meta-2"), {
      timeout: 10_000,
      interval: 100,
    });
    const reads = oneSecretGets();
    expect(reads.map((r) => r.path)).toEqual([`/api/v1/namespaces/${target}/secrets/${name}`]);
    expect(reads[0]!.carriedData).toBe(true);
  });
});
