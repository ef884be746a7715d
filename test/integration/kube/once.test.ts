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
    regcred = await leastPrivilege(cluster, run, ["pull", "merged"]);
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

  /** A target merging two registries; ghcr's password file may be missing (its provider fails). */
  function mergedConfig(file: string, ghcrPassword: string, ghcrExpires: Date) {
    writeFileSync(
      path.join(dir, file),
      `registries:
  - { name: quay, provider: static, registries: [quay.io], username: robot, passwordFrom: { file: pw } }
  - { name: ghcr, provider: static, registries: [ghcr.io], username: bot, passwordFrom: { file: ${ghcrPassword} }, expiresAt: "${ghcrExpires.toISOString()}" }
secrets:
  - { name: merged, registries: [quay, ghcr], namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } } }
# Its own installation: the other tests' Secrets are not garbage to it.
kubernetes: { instance: merged-${run}, events: false }
`,
    );
  }
  async function auths(namespace: string): Promise<Record<string, { password: string }>> {
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const s = await core.readNamespacedSecret({ namespace, name: "merged" });
    return JSON.parse(Buffer.from(s.data![".dockerconfigjson"]!, "base64").toString()).auths;
  }

  it("a provider failing at start keeps the still-valid entry the cluster holds (restart, once hook)", async () => {
    writeFileSync(path.join(dir, "ghcr-pw"), "ghcr-password-last-good");
    const expires = new Date(Date.now() + 3_600_000);
    mergedConfig("merged-good.yaml", "ghcr-pw", expires);
    mergedConfig("merged-failing.yaml", "ghcr-pw-missing", expires);
    expect((await once("merged-good.yaml")).code).toBe(0);
    for (const namespace of ns.names)
      expect(Object.keys(await auths(namespace))).toEqual(["ghcr.io", "quay.io"]);

    // A new process whose ghcr provider fails: it starts from what the cluster holds.
    expect((await once("merged-failing.yaml")).code).toBe(1);
    for (const namespace of ns.names) {
      const a = await auths(namespace);
      expect(Object.keys(a)).toEqual(["ghcr.io", "quay.io"]);
      expect(a["ghcr.io"]!.password).toBe("ghcr-password-last-good");
    }
  });

  it("an entry the cluster holds is dropped once it has expired", async () => {
    writeFileSync(path.join(dir, "ghcr-pw"), "ghcr-password-short");
    const expires = new Date(Date.now() + 4_000);
    mergedConfig("short-good.yaml", "ghcr-pw", expires);
    mergedConfig("short-failing.yaml", "ghcr-pw-missing", expires);
    expect((await once("short-good.yaml")).code).toBe(0);
    expect((await auths(ns.names[0]!))["ghcr.io"]!.password).toBe("ghcr-password-short");
    await new Promise((r) => setTimeout(r, Math.max(0, expires.getTime() - Date.now()) + 500));
    expect((await once("short-failing.yaml")).code).toBe(1);
    for (const namespace of ns.names) expect(Object.keys(await auths(namespace))).toEqual(["quay.io"]);
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
