// `regcred explain` on the real API server and the rig's registry: kubelet's keyring over the
// pull secrets a Pod would carry, then the registry's own answer for each candidate.
import { randomBytes } from "node:crypto";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { startRegistry, dockerConfigJson, type Registry } from "../../rig/registry.ts";
import { main } from "../../../src/cli/program.ts";
import type { Explanation } from "../../../src/cli/explain.ts";

const cluster = sharedCluster();
const good = { username: "puller", password: "explain-good-".padEnd(120, "g") };
const revoked = { username: "puller", password: "explain-revoked-".padEnd(120, "r") };

async function explain(...args: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await main(["explain", "--kubeconfig", cluster.kubeconfigPath, ...args], {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
  });
  return { code, stdout, stderr };
}

describe("regcred explain", () => {
  const run = randomBytes(3).toString("hex");
  let ns: NamespaceSet;
  let reg: Registry;
  let image: string;
  let core: CoreV1Api;

  const secret = (
    namespace: string,
    name: string,
    auths: Record<string, { username: string; password: string }>,
  ) =>
    core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name, labels: { "app.kubernetes.io/managed-by": "regcred", "regcred.io/secret": name } },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": Buffer.from(dockerConfigJson(auths)).toString("base64") },
      },
    });
  const serviceAccount = (namespace: string, name: string, pullSecrets: string[]) =>
    core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name }, imagePullSecrets: pullSecrets.map((n) => ({ name: n })) },
    });

  beforeAll(async () => {
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    ns = await createNamespaces(cluster.kubeConfig(), `explain-${run}`, 1);
    reg = await startRegistry({ auth: "token", users: [good] });
    image = await reg.pushImage("team/app", "v1");
    const n = ns.names[0]!;
    await secret(n, "pull-good", { [reg.host]: good });
    await secret(n, "pull-revoked", { [reg.host]: revoked });
    await secret(n, "pull-elsewhere", { "ghcr.io": good });
    await serviceAccount(n, "works", ["pull-revoked", "pull-good"]);
    await serviceAccount(n, "broken", ["pull-revoked", "gone"]);
    await serviceAccount(n, "unmatched", ["pull-elsewhere"]);
  });
  afterAll(async () => {
    await ns?.cleanup();
    await reg?.stop();
  });

  it("names the Secret and key kubelet ends up using, after a rejected candidate, and exits 0", async () => {
    const r = await explain(image, "-n", ns.names[0]!, "--service-account", "works", "-o", "json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const e = JSON.parse(r.stdout) as Explanation;
    expect(e.repository).toBe(image.replace(/:v1$/, ""));
    expect(e.candidates.map((c) => [c.secret, c.registry?.result])).toEqual([
      ["pull-revoked", "rejected"],
      ["pull-good", "accepted"],
    ]);
    expect(e.verdict).toMatchObject({ authenticates: true, uses: { secret: "pull-good", key: reg.host } });
    expect(e.candidates[1]!.managed).toMatchObject({
      registries: [],
      managedBy: expect.stringContaining("regcred"),
    });
  });

  it("exits 1 with the registry's refusal and the missing Secret named", async () => {
    const r = await explain(image, "-n", ns.names[0]!, "--service-account", "broken");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("pull does NOT authenticate");
    expect(r.stdout).toContain("pull-revoked");
    expect(r.stdout).toContain("rejected by the registry (401)");
    expect(r.stdout).toContain("missing Secrets: gone");
  });

  it("exits 1 when no key matches the image's registry", async () => {
    const r = await explain(image, "-n", ns.names[0]!, "--service-account", "unmatched", "-o", "json");
    expect(r.code).toBe(1);
    const e = JSON.parse(r.stdout) as Explanation;
    expect(e.candidates).toEqual([]);
    expect(e.verdict.reason).toContain("no key of the pull secrets matches");
  });

  it("never prints a password", async () => {
    const all = await Promise.all(
      ["works", "broken"].map((sa) =>
        explain(image, "-n", ns.names[0]!, "--service-account", sa, "-o", "json"),
      ),
    );
    for (const r of all) {
      for (const p of [good.password, revoked.password]) {
        expect(r.stdout).not.toContain(p);
        expect(r.stdout).not.toContain(Buffer.from(`puller:${p}`).toString("base64"));
      }
    }
  });
});
