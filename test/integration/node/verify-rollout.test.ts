// Verify before rollout, on the rig's node: a static provider whose source changes to a wrong
// password mints a credential the registry (token auth, served as a real name over TLS)
// rejects. The real daemon checks it with the v2 handshake and keeps the good one: the Secret is
// unchanged, the running Pod keeps running and a new Pod pulls with it; when the provider is
// good again (the registry rotated to a new password, the source follows) the new credential is
// verified, rolled out, and a Pod pulls with it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { greetingOf, pushRunnableImage } from "../../rig/app-image.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import type { NodeClient } from "../../rig/node.ts";
import { serveRegistryAt, type ServedHost } from "../../rig/registry-hosts.ts";
import { startRegistry, type Registry } from "../../rig/registry.ts";
import { sharedCluster } from "../../rig/shared.ts";
import { sharedNode } from "../../rig/shared-node.ts";
import { startDaemon, type Daemon } from "../../../src/daemon.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { createKubeOutput } from "../../../src/kube/output.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { verifyCredential, type Fetch } from "../../../src/registry/verify.ts";
import type { CredentialCheck } from "../../../src/registry/rollout.ts";
import type { RegistryStatus } from "../../../src/engine/refresher.ts";
import { captureLogger } from "../../helpers/log.ts";
import { find, parsePrometheus } from "../../helpers/prom.ts";
import { authsOf } from "../e2e/read-back.ts";
import { pullWithWrongSecret } from "./kubelet-pull.ts";
import { createPod, podBody, pulledMessage, waitRunning } from "./pods.ts";

const HOST = "verify.registry.example";
const GOOD = "verify-good-password-1";
const WRONG = "verify-wrong-password";
const ROTATED = "verify-good-password-2";
const kc = sharedCluster().kubeConfig();
const core = kc.makeApiClient(CoreV1Api);

/**
 * The real handshake, trusting the served host's throwaway CA (as a cluster's regcred trusts the
 * registry's public CA): containerd trusts it through certs.d, Node through this Agent.
 */
function trustingCheck(caFile: string): CredentialCheck {
  const dispatcher = new Agent({ connect: { ca: readFileSync(caFile) } });
  const fetch = ((url: string, init: RequestInit) =>
    undiciFetch(url, { ...(init as object), dispatcher })) as unknown as Fetch;
  return (req) => verifyCredential({ ...req, fetch });
}

async function until<T>(what: string, get: () => T | undefined | Promise<T | undefined>, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("node: a credential the registry rejects is never rolled out", () => {
  let node: NodeClient;
  let registry: Registry;
  let served: ServedHost;
  let image: string;
  let ns: NamespaceSet;
  let daemon: Daemon;
  let metrics: Metrics;
  let logs: string[];
  const failures: Array<{ registry: string; reason: string }> = [];
  const dir = mkdtempSync(path.join(tmpdir(), "regcred-node-verify-"));
  const passwordFile = path.join(dir, "password");

  const secretPassword = async () => {
    const s = await core.readNamespacedSecret({ namespace: ns.names[0]!, name: "pull" });
    return authsOf(Buffer.from(s.data![".dockerconfigjson"]!, "base64").toString())[HOST]!.password;
  };
  const status = (): RegistryStatus => daemon.refresher.status()[0]!;
  const verifications = async (result: string) =>
    find(parsePrometheus(await metrics.text()), "regcred_credential_verifications_total", { result })[0]
      ?.value ?? 0;
  /** A new Pod that must pull now (imagePullPolicy Always: the registry is asked, with the Secret). */
  const pullNow = async (name: string) => {
    const before = served.requests.length;
    await createPod(
      kc,
      ns.names[0]!,
      podBody(name, image, { imagePullSecrets: ["pull"], imagePullPolicy: "Always" }),
    );
    await waitRunning(kc, ns.names[0]!, name);
    expect(await pulledMessage(kc, ns.names[0]!, name)).toMatch(/^Successfully pulled image /);
    expect(await node.podLogs(ns.names[0]!, name, "app")).toBe(`${greetingOf("team/verify-app", "v1")}\n`);
    // containerd really fetched the manifest from the registry, with a token.
    const manifests = served.requests
      .slice(before)
      .filter((r) => r.path === "/v2/team/verify-app/manifests/v1");
    expect(manifests.some((r) => r.auth === "Bearer" && r.status === 200)).toBe(true);
  };

  beforeAll(async () => {
    registry = await startRegistry({ auth: "token", users: [{ username: "bot", password: GOOD }] });
    [node, served] = await Promise.all([sharedNode(), serveRegistryAt(registry, HOST)]);
    image = served.imageRef(await pushRunnableImage(registry, "team/verify-app", "v1"));
    writeFileSync(passwordFile, `${GOOD}\n`);
    ns = await createNamespaces(kc, "node-verify", 1, { "regcred-verify": "yes" });
    const config = parseConfig(
      path.join(dir, "regcred.yaml"),
      `registries:
  - name: corp
    provider: static
    registries: [${HOST}]
    username: bot
    passwordFrom: { file: ${passwordFile} }
    registryCheck: { repository: team/verify-app }
secrets:
  - name: pull
    registries: [corp]
    namespaces: { selector: { matchLabels: { regcred-verify: "yes" } } }
refresh: { retry: { initial: 1s, max: 2s } }
kubernetes: { instance: verify-${ns.names[0]!.slice(-8)} }
`,
    );
    const captured = captureLogger("info");
    logs = captured.lines;
    metrics = new Metrics();
    daemon = await startDaemon({
      config,
      log: captured.log,
      metrics,
      verify: trustingCheck(served.caFile),
      onRefreshFailure: (registry, reason) => failures.push({ registry, reason }),
      ...createKubeOutput({ kc, config, log: captured.log, metrics }),
    });
    await daemon.refresher.settled();
    await daemon.sync.idle();
  });
  afterAll(async () => {
    await daemon?.stop();
    await ns?.cleanup();
    await served?.stop();
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the good credential was verified with the registry (scoped token for the repository) and rolled out", async () => {
    expect(status()).toMatchObject({
      state: "ok",
      registryCheck: true,
      verification: { result: "accepted" },
    });
    expect(await secretPassword()).toBe(GOOD);
    // The realm was asked for a pull token on the configured repository, through the served name.
    expect(registry.tokenServer!.requests).toContainEqual(
      expect.objectContaining({ username: "bot", ok: true, scopes: ["repository:team/verify-app:pull"] }),
    );
    await pullNow("before");
  });

  it("a wrong password at the source: rejected by the registry, the Secret keeps the good one, Pods keep pulling", async () => {
    const rejectedBefore = await verifications("rejected");
    writeFileSync(passwordFile, `${WRONG}\n`);
    // The file watch mints at once; the registry's realm refuses it.
    await until("a rejected verification", () =>
      status().lastError?.reason === "rejected" ? true : undefined,
    );
    expect(status()).toMatchObject({ state: "failing", usable: true, verification: { result: "accepted" } });
    expect(status().lastError!.message).toMatch(/token realm .* answered 401/);
    expect(registry.tokenServer!.requests).toContainEqual(
      expect.objectContaining({ username: "bot", ok: false }),
    );
    expect(await verifications("rejected")).toBeGreaterThan(rejectedBefore);
    expect(failures).toContainEqual({ registry: "corp", reason: "rejected" });
    // It keeps backing off and retrying, and never rolls the wrong one out.
    await until("a second rejection", () => (status().consecutiveFailures >= 2 ? true : undefined));
    await daemon.sync.idle();
    expect(await secretPassword()).toBe(GOOD);
    // The workload keeps running, and a new Pod pulls with the Secret as it is.
    const before = await core.readNamespacedPod({ namespace: ns.names[0]!, name: "before" });
    expect(before.status?.phase).toBe("Running");
    await pullNow("during");
    expect(logs.join("")).not.toContain(WRONG);
    expect(logs.join("")).not.toContain(GOOD);
  });

  it("control: the password regcred held back really fails to pull", async () => {
    const failure = await pullWithWrongSecret(image, { [HOST]: { username: "bot", password: WRONG } });
    expect(failure.failedEvents.join("\n")).toMatch(/401 Unauthorized|authorization failed|unauthorized/i);
  });

  it("recovery: the registry rotates, the source follows, the new credential is verified and rolled out", async () => {
    await registry.setUsers([{ username: "bot", password: ROTATED }]); // the old one is revoked
    writeFileSync(passwordFile, `${ROTATED}\n`);
    await until("recovery", () => (status().state === "ok" ? true : undefined));
    expect(status()).toMatchObject({
      verification: { result: "accepted" },
      lastError: null,
      consecutiveFailures: 0,
    });
    await daemon.sync.idle();
    expect(await secretPassword()).toBe(ROTATED);
    await pullNow("after");
    const m = parsePrometheus(await metrics.text());
    expect(find(m, "regcred_credential_verified", { registry: "corp" })[0]!.value).toBe(1);
  });
});
