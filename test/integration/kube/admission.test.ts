// A real admission rule on the API server (a ValidatingAdmissionPolicy and its binding) refuses
// every Secret write in one namespace. regcred's write there fails and is retried; the Secret
// there keeps its last (still working) credential and its ServiceAccount entry stays; the other
// namespace is updated as if nothing happened; lifting the rule lets the retry land by itself.
import { randomBytes } from "node:crypto";
import { AdmissionregistrationV1Api, CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { ScriptedProvider, ok } from "../../helpers/fake-provider.ts";
import { find, parsePrometheus } from "../../helpers/prom.ts";
import { leastPrivilege, type LeastPrivilege } from "./least-rbac.ts";
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
const admission = cluster.kubeConfig().makeApiClient(AdmissionregistrationV1Api);

describe("a Secret write refused by admission", () => {
  const run = randomBytes(3).toString("hex");
  const name = `pull-${run}`;
  const policy = `regcred-test-deny-secrets-${run}`;
  let ns: NamespaceSet;
  let regcred: LeastPrivilege;
  let running: Running;
  const provider = new ScriptedProvider([ok("before-the-rule", hours(12))]);

  beforeAll(async () => {
    regcred = await leastPrivilege(cluster, run, [name]);
    ns = await createNamespaces(cluster.kubeConfig(), `adm-${run}`, ["frozen", "open"], {
      "regcred-test": run,
    });
    await defaultServiceAccounts(core, ns.names);
    running = await runDaemon(
      regcred.kc,
      provider,
      `
secrets:
  - name: ${name}
    registries: [hub]
    namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } }
    serviceAccounts: [default]
refresh: { jitter: 0, retry: { initial: 1s, max: 2s } }
kubernetes: { instance: adm-${run} }
`,
    );
  }, 120_000);

  afterAll(async () => {
    await running?.daemon.stop();
    await admission.deleteValidatingAdmissionPolicyBinding({ name: policy }).catch(() => undefined);
    await admission.deleteValidatingAdmissionPolicy({ name: policy }).catch(() => undefined);
    await ns?.cleanup();
    await regcred?.cleanup();
  });

  const denials = async () => {
    const text = (await cluster.rawGet("/metrics")).body;
    const lines = text
      .split("\n")
      .filter((l) => l.startsWith("apiserver_validating_admission_policy_check_total"));
    return find(parsePrometheus(lines.join("\n")), "apiserver_validating_admission_policy_check_total", {
      policy,
      enforcement_action: "deny",
    }).reduce((sum, s) => sum + s.value, 0);
  };

  it("fails and retries there, keeps its Secret and ServiceAccount entry, and leaves the other namespace alone", async () => {
    const [frozen, open] = ns.names as [string, string];
    for (const namespace of ns.names) {
      expect(passwordOf(await secretIn(core, namespace, name))).toBe("before-the-rule");
      await vi.waitFor(async () => expect(await pullSecretsOf(core, namespace)).toContain(name), {
        timeout: 10_000,
      });
    }

    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: policy },
        spec: {
          failurePolicy: "Fail",
          matchConstraints: {
            resourceRules: [
              {
                apiGroups: [""],
                apiVersions: ["v1"],
                operations: ["CREATE", "UPDATE"],
                resources: ["secrets"],
              },
            ],
          },
          validations: [{ expression: "false", message: "Secret writes are frozen here (regcred test)" }],
        },
      },
    });
    await admission.createValidatingAdmissionPolicyBinding({
      body: {
        metadata: { name: policy },
        spec: {
          policyName: policy,
          validationActions: ["Deny"],
          matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": frozen } } },
        },
      },
    });
    // The policy takes effect once the API server has loaded it: probe with a dry-run write.
    await vi.waitFor(
      async () => {
        const refused = await core
          .createNamespacedSecret({ namespace: frozen, dryRun: "All", body: { metadata: { name: "probe" } } })
          .then(
            () => false,
            (e: { code?: number }) => e.code === 422 || e.code === 403,
          );
        expect(refused).toBe(true);
      },
      { timeout: 30_000, interval: 250 },
    );
    const probes = await denials();

    provider.script([ok("after-the-rule", hours(12))]);
    await running.daemon.refresher.refresh("hub");
    await vi.waitFor(
      async () => expect(passwordOf(await secretIn(core, open, name))).toBe("after-the-rule"),
      {
        timeout: 10_000,
      },
    );
    // The refused write is retried: the API server itself counts each refusal.
    await vi.waitFor(async () => expect((await denials()) - probes).toBeGreaterThanOrEqual(3), {
      timeout: 30_000,
      interval: 500,
    });
    expect(passwordOf(await secretIn(core, frozen, name))).toBe("before-the-rule");
    expect(await pullSecretsOf(core, frozen)).toContain(name);
    expect(await pullSecretsOf(core, open)).toContain(name);
    const failedWrites = find(parsePrometheus(await running.metrics.text()), "regcred_secret_writes_total", {
      secret: name,
      result: "failed",
    });
    expect(failedWrites[0]?.value ?? 0).toBeGreaterThanOrEqual(3);

    // The rule goes; the retry lands without anyone's help.
    await admission.deleteValidatingAdmissionPolicyBinding({ name: policy });
    await vi.waitFor(
      async () => expect(passwordOf(await secretIn(core, frozen, name))).toBe("after-the-rule"),
      {
        timeout: 30_000,
        interval: 250,
      },
    );
    expect(await pullSecretsOf(core, frozen)).toContain(name);
  }, 120_000);
});
