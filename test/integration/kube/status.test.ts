// `regcred status` reads the cluster's managed Secrets and judges each from the Secret alone.
import { randomBytes } from "node:crypto";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { startDaemon } from "../../../src/daemon.ts";
import { createKubeOutput } from "../../../src/kube/output.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { main } from "../../../src/cli/program.ts";
import { configFrom } from "../../helpers/config.ts";
import { captureLogger } from "../../helpers/log.ts";
import { ScriptedProvider, ok } from "../../helpers/fake-provider.ts";
import type { ManagedSecretStatus } from "../../../src/cli/status.ts";

const cluster = sharedCluster();

async function status(...args: string[]) {
  let stdout = "";
  const code = await main(["status", "--kubeconfig", cluster.kubeconfigPath, ...args], {
    stdout: (t) => void (stdout += t),
    stderr: () => {},
  });
  return { code, stdout };
}

describe("regcred status", () => {
  const run = randomBytes(3).toString("hex");
  let ns: NamespaceSet;

  beforeAll(async () => {
    ns = await createNamespaces(cluster.kubeConfig(), `status-${run}`, 2, { "regcred-test": run });
    const { log } = captureLogger("info");
    const metrics = new Metrics();
    const config = configFrom(
      `
registries:
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { env: UNUSED } }
secrets:
  - { name: pull-${run}, registries: [hub], namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } } }
kubernetes: { instance: status-${run} }
`,
    );
    const expires = new Date(Date.now() + 6 * 3_600_000);
    const daemon = await startDaemon({
      config,
      log,
      metrics,
      ...createKubeOutput({ kc: cluster.kubeConfig(), config, log, metrics }),
      providers: { hub: new ScriptedProvider([ok("status-password", expires)]) },
    });
    await daemon.refresher.settled();
    await daemon.sync.idle();
    await daemon.stop();
    // Someone edits one of them after regcred stopped.
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const s = await core.readNamespacedSecret({ namespace: ns.names[1]!, name: `pull-${run}` });
    s.data![".dockerconfigjson"] = Buffer.from('{"auths":{}}').toString("base64");
    await core.replaceNamespacedSecret({ namespace: ns.names[1]!, name: `pull-${run}`, body: s });
  });
  afterAll(async () => {
    await ns?.cleanup();
  });

  it("lists managed Secrets with registries, expiry and sync state, as JSON", async () => {
    const { code, stdout } = await status("--filter", run.toUpperCase(), "-o", "json");
    const rows = JSON.parse(stdout) as ManagedSecretStatus[];
    expect(rows.map((r) => [r.namespace, r.inSync, r.problem])).toEqual([
      [ns.names[0], true, null],
      [ns.names[1], false, "edited since regcred wrote it"],
    ]);
    expect(rows[0]).toMatchObject({ secret: `pull-${run}`, instance: `status-${run}`, registries: ["hub"] });
    expect(Date.parse(rows[0]!.expiresAt!)).toBeGreaterThan(Date.now());
    expect(code).toBe(1);
    expect(stdout).not.toContain("status-password");
  });

  it("prints a table and filters case-insensitively", async () => {
    const { stdout } = await status("--filter", `${ns.names[0]!.toUpperCase()}`);
    const lines = stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^NAMESPACE\s+SECRET\s+REGISTRIES\s+EXPIRES\s+IN SYNC$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(ns.names[0]!);
    expect(lines[1]).toMatch(/yes$/);
  });
});
