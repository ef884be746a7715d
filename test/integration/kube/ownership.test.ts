// Who owns which field of a Secret, on the real API server: regcred owns everything it sets by
// server-side apply from the first write (so what leaves the config leaves the Secret), never
// takes over a foreign Secret that appears in a race, takes one over when told (adopt), and
// recreates one whose type it cannot change. Races are made real with a proxy that holds back
// regcred's Secret watch: the API server answers every write, regcred just learns late.
import { randomBytes } from "node:crypto";
import { CoreV1Api, type V1Secret } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { ScriptedProvider, ok } from "../../helpers/fake-provider.ts";
import { leastPrivilege, type LeastPrivilege } from "./least-rbac.ts";
import { CountingProxy } from "./counting-proxy.ts";
import {
  defaultServiceAccounts,
  hours,
  passwordOf,
  pullSecretsOf,
  runDaemon,
  secretIn,
  type Running,
} from "./kit.ts";

const cluster = sharedCluster();
const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
const foreignBody = Buffer.from(
  JSON.stringify({ auths: { "hand.example.com": { auth: "aGFuZDptYWRl" } } }),
).toString("base64");

const managers = (s: V1Secret | undefined) =>
  (s?.metadata?.managedFields ?? []).map((f) => `${f.manager}/${f.operation}`);

async function relabel(namespace: string, labels: Record<string, string | null>) {
  await core.patchNamespace(
    { name: namespace, body: { metadata: { labels } } },
    (await import("@kubernetes/client-node")).setHeaderOptions(
      "Content-Type",
      "application/merge-patch+json",
    ),
  );
}

let regcred: LeastPrivilege;
beforeAll(async () => {
  regcred = await leastPrivilege(cluster, randomBytes(3).toString("hex"), []);
});
afterAll(async () => {
  await regcred?.cleanup();
});

describe("labels and annotations regcred no longer wants", () => {
  const run = randomBytes(3).toString("hex");
  const name = `pull-${run}`;
  let ns: NamespaceSet;
  let running: Running | undefined;
  const provider = new ScriptedProvider([ok("owned-1", hours(12))]);
  const config = (extra: string) => `
secrets:
  - name: ${name}
    registries: [hub]
    namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } }
${extra}
kubernetes: { instance: own-${run} }
`;

  beforeAll(async () => {
    ns = await createNamespaces(cluster.kubeConfig(), `own-${run}`, 1, { "regcred-test": run });
  });
  afterAll(async () => {
    await running?.daemon.stop();
    await ns?.cleanup();
  });

  it("are gone after the first update, because the first write already owned them by apply", async () => {
    running = await runDaemon(
      regcred,
      provider,
      config(`    labels: { team: payments }
    annotations: { note: "rotated by regcred" }`),
    );
    const namespace = ns.names[0]!;
    const first = await secretIn(core, namespace, name);
    expect(first?.metadata?.labels?.team).toBe("payments");
    expect(first?.metadata?.annotations?.note).toBe("rotated by regcred");
    // The create's own manager holds only what no regcred Secret ever drops.
    expect(managers(first)).toContain("regcred/Apply");
    expect(managers(first)).not.toContain("regcred/Update");
    await running.daemon.stop();

    running = await runDaemon(regcred, provider, config(""));
    const after = await secretIn(core, namespace, name);
    expect(after?.metadata?.uid).toBe(first?.metadata?.uid);
    expect(after?.metadata?.labels?.team).toBeUndefined();
    expect(after?.metadata?.annotations?.note).toBeUndefined();
    expect(after?.metadata?.labels?.["app.kubernetes.io/managed-by"]).toBe("regcred");
    expect(passwordOf(after)).toBe("owned-1");
  });
});

describe("races with another writer", () => {
  const run = randomBytes(3).toString("hex");
  const name = `pull-${run}`;
  let ns: NamespaceSet;
  let proxy: CountingProxy;
  let running: Running;
  // Passwords no namespace name can contain: the redactor masks a registered value anywhere in
  // a log line, and "race-1" is a prefix of the namespace "race-1abcde-...-late".
  const provider = new ScriptedProvider([ok("pw-race-1", hours(12))]);

  beforeAll(async () => {
    ns = await createNamespaces(cluster.kubeConfig(), `race-${run}`, ["late", "replaced"], {
      "regcred-test": "no",
    });
    await relabel(ns.names[1]!, { "regcred-test": run });
    proxy = await CountingProxy.start(cluster);
    await regcred.grant([name]); // through the proxy, as the same ServiceAccount
    running = await runDaemon(
      proxy.kubeConfig(regcred.kc.getCurrentUser()!.token!),
      provider,
      `
secrets:
  - name: ${name}
    registries: [hub]
    namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } }
refresh: { jitter: 0, retry: { initial: 1s, max: 2s } }
kubernetes: { instance: race-${run} }
`,
    );
  }, 120_000);
  afterAll(async () => {
    await running?.daemon.stop();
    await proxy?.stop();
    await ns?.cleanup();
  });

  const foreignIn = (namespace: string) =>
    core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name, labels: { owner: "someone-else" } },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": foreignBody },
      },
    });

  const untouched = async (namespace: string) => {
    const s = await secretIn(core, namespace, name);
    expect(s?.data?.[".dockerconfigjson"]).toBe(foreignBody);
    expect(s?.metadata?.labels).toEqual({ owner: "someone-else" });
    expect(managers(s).filter((m) => m.startsWith("regcred"))).toEqual([]);
  };

  it("a foreign Secret created after regcred last looked is not overwritten by its create", async () => {
    const late = ns.names[0]!;
    proxy.hold((path) => path === "/api/v1/secrets");
    await foreignIn(late);
    // regcred's Secret cache has not seen it; now the namespace is selected and regcred writes.
    await relabel(late, { "regcred-test": run });
    await vi.waitFor(
      () =>
        expect(
          running
            .records()
            .some((r) => String(r.msg).includes(`${late}/${name} exists and was not created by regcred`)),
        ).toBe(true),
      { timeout: 10_000, interval: 100 },
    );
    await untouched(late);
    proxy.release();
    await running.daemon.sync.idle();
    await untouched(late);
  });

  it("a Secret replaced by someone else after regcred last looked is not overwritten by its update", async () => {
    const replaced = ns.names[1]!;
    expect(passwordOf(await secretIn(core, replaced, name))).toBe("pw-race-1");
    proxy.hold((path) => path === "/api/v1/secrets");
    await core.deleteNamespacedSecret({ namespace: replaced, name });
    await foreignIn(replaced);
    provider.script([ok("pw-race-2", hours(12))]);
    await running.daemon.refresher.refresh("hub");
    await running.daemon.sync.idle();
    await untouched(replaced);
    proxy.release();
    await vi.waitFor(() => running.daemon.sync.idle(), { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 2_000));
    await running.daemon.sync.idle();
    await untouched(replaced);
  });
});

describe("adopt: true and a type change", () => {
  const run = randomBytes(3).toString("hex");
  let ns: NamespaceSet;
  let running: Running;

  beforeAll(async () => {
    ns = await createNamespaces(cluster.kubeConfig(), `adopt-${run}`, 1, { "regcred-test": run });
    await defaultServiceAccounts(core, ns.names);
    const namespace = ns.names[0]!;
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: `adopt-${run}`, labels: { owner: "someone-else" } },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": foreignBody },
      },
    });
    // regcred's labels on a Secret of a type regcred does not write (as an old version might).
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: {
          name: `typed-${run}`,
          labels: {
            "app.kubernetes.io/managed-by": "regcred",
            "regcred.io/instance": `adopt-${run}`,
            "regcred.io/secret": `typed-${run}`,
          },
        },
        type: "Opaque",
        stringData: { token: "old" },
      },
    });
  });
  afterAll(async () => {
    await running?.daemon.stop();
    await ns?.cleanup();
  });

  it("adopts a foreign Secret in place and recreates one of the wrong type", async () => {
    const namespace = ns.names[0]!;
    const foreign = (await secretIn(core, namespace, `adopt-${run}`))!;
    const typed = (await secretIn(core, namespace, `typed-${run}`))!;
    running = await runDaemon(
      regcred,
      new ScriptedProvider([ok("adopted", hours(12))]),
      `
secrets:
  - name: adopt-${run}
    registries: [hub]
    adopt: true
    namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } }
    serviceAccounts: [default]
  - name: typed-${run}
    registries: [hub]
    namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } }
kubernetes: { instance: adopt-${run} }
`,
    );
    const adopted = await secretIn(core, namespace, `adopt-${run}`);
    expect(adopted?.metadata?.uid).toBe(foreign.metadata?.uid);
    expect(passwordOf(adopted)).toBe("adopted");
    expect(adopted?.metadata?.labels?.["app.kubernetes.io/managed-by"]).toBe("regcred");
    expect(managers(adopted)).toContain("regcred/Apply");
    await vi.waitFor(async () => expect(await pullSecretsOf(core, namespace)).toContain(`adopt-${run}`), {
      timeout: 10_000,
    });

    const recreated = await secretIn(core, namespace, `typed-${run}`);
    expect(recreated?.type).toBe("kubernetes.io/dockerconfigjson");
    expect(recreated?.metadata?.uid).not.toBe(typed.metadata?.uid);
    expect(passwordOf(recreated)).toBe("adopted");
    expect(recreated?.data?.token).toBeUndefined();
  });
});
