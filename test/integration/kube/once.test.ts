// `regcred once --output kube`: what the chart's post-install hook and a CronJob migration run.
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { main } from "../../../src/cli/program.ts";
import { captureLogger } from "../../helpers/log.ts";
import { leastPrivilege, type LeastPrivilege } from "./least-rbac.ts";

const cluster = sharedCluster();

describe("regcred once --output kube", () => {
  const run = randomBytes(3).toString("hex");
  const dir = mkdtempSync(path.join(tmpdir(), "regcred-once-"));
  let ns: NamespaceSet;
  let regcred: LeastPrivilege;

  beforeAll(async () => {
    ns = await createNamespaces(cluster.kubeConfig(), `once-${run}`, 2, { "regcred-test": run });
    regcred = await leastPrivilege(cluster, run);
    writeFileSync(path.join(dir, "pw"), "once-password");
    const config = (passwordFile: string) => `registries:
  - { name: quay, provider: static, registries: [quay.io], username: robot, passwordFrom: { file: ${passwordFile} } }
secrets:
  - { name: pull, registries: [quay], namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } } }
kubernetes: { instance: once-${run}, events: false }
`;
    writeFileSync(path.join(dir, "good.yaml"), config("pw"));
    writeFileSync(path.join(dir, "broken.yaml"), config("missing-file"));
  });
  afterAll(async () => {
    await Promise.all([ns?.cleanup(), regcred?.cleanup()]);
  });

  async function once(file: string) {
    let stdout = "";
    const code = await main(["once", "-c", path.join(dir, file), "--kubeconfig", regcred.kubeconfigPath], {
      stdout: (t) => void (stdout += t),
      stderr: () => {},
      log: captureLogger().log,
    });
    return { code, stdout };
  }

  it("writes every matching namespace and exits 0", async () => {
    const { code, stdout } = await once("good.yaml");
    expect(code).toBe(0);
    expect(stdout).toContain("2 secrets to kube: 2 created");
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    for (const namespace of ns.names) {
      const s = await core.readNamespacedSecret({ namespace, name: "pull" });
      expect(s.type).toBe("kubernetes.io/dockerconfigjson");
    }
  });

  it("exits 1 when a registry fails, leaving what is there", async () => {
    const { code } = await once("broken.yaml");
    expect(code).toBe(1);
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    expect((await core.readNamespacedSecret({ namespace: ns.names[0]!, name: "pull" })).type).toBe(
      "kubernetes.io/dockerconfigjson",
    );
  });
});
