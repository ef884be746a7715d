// No token leaves regcred through any exit while the error that echoes it is current. The
// daemon is the real CLI (`regcred run --output kube`, its own process) on the rig's API server
// under the chart's RBAC, with a ghcr registry whose GitHub API (a fake: GitHub cannot run
// here) rejects the PAT with a message that quotes it, on every attempt, as some APIs do.
// So the echoing error is the registry's current lastError while /status and /readyz are read,
// it is what the failure path posts as an Event (read back from the API server), and it is in
// the daemon's logs and in `regcred once`'s stderr.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { EventsV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { REPO_ROOT } from "../../rig/util.ts";
import { leastPrivilege, type LeastPrivilege } from "./least-rbac.ts";

const MASK = "**redacted**";
const cluster = sharedCluster();

/** The CLI as its own process (its stderr is the logs); resolves with its exit code. */
function cli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? -1)));
  return { child, out, exited };
}

describe("redaction at every exit while the echoing error is current", () => {
  const run = randomBytes(3).toString("hex");
  const dir = mkdtempSync(path.join(tmpdir(), "regcred-redaction-"));
  // A classic PAT's shape; the fake GitHub quotes it back in its 401.
  const pat = `ghp_${randomBytes(18).toString("hex")}`;
  const forbidden = [
    pat,
    Buffer.from(pat).toString("base64"),
    Buffer.from(`ci-bot:${pat}`).toString("base64"),
  ];
  const pod = { name: `regcred-${run}-7d9f`, namespace: "" };
  let github: Server;
  let ns: NamespaceSet;
  let regcred: LeastPrivilege;
  let config = "";
  let gets = 0;

  beforeAll(async () => {
    github = createServer((req, res) => {
      gets++;
      res.writeHead(401, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          message: `Bad credentials: token ${req.headers.authorization?.slice(7)} is revoked`,
        }),
      );
    });
    await new Promise<void>((resolve) => github.listen(0, "127.0.0.1", resolve));
    ns = await createNamespaces(cluster.kubeConfig(), `redact-${run}`, 1, { "regcred-test": run });
    regcred = await leastPrivilege(cluster, run, ["pull"]);
    pod.namespace = regcred.namespace;
    writeFileSync(path.join(dir, "pat"), `${pat}\n`);
    config = path.join(dir, "config.yaml");
    writeFileSync(
      config,
      `registries:
  - name: gh
    provider: ghcr
    apiUrl: http://127.0.0.1:${(github.address() as AddressInfo).port}
    registries: [ghcr.example.com]
    username: ci-bot
    tokenFrom: { file: ${path.join(dir, "pat")} }
secrets:
  - { name: pull, registries: [gh], namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } } }
kubernetes: { instance: redact-${run}, events: true }
refresh: { retry: { initial: 1s, max: 2s } }
server: { port: 0, host: 127.0.0.1 }
`,
    );
  });
  afterAll(async () => {
    await new Promise((r) => github?.close(r));
    await Promise.all([ns?.cleanup(), regcred?.cleanup()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const expectClean = (text: string, where: string) => {
    // Soft: one run names every exit that leaks, not just the first.
    for (const value of forbidden) expect.soft(text, `${where} holds the token`).not.toContain(value);
  };

  it("regcred run: /status, /readyz, the RefreshFailed Event and the logs mask the token", async () => {
    const daemon = cli(["run", "-c", config, "--output", "kube", "--kubeconfig", regcred.kubeconfigPath], {
      POD_NAME: pod.name,
      POD_NAMESPACE: pod.namespace,
    });
    try {
      const url = await vi.waitFor(
        () => {
          const m = /"url":"([^"]+)"/.exec(daemon.out.stderr);
          if (!m) throw new Error(`not serving yet:\n${daemon.out.stderr.slice(-2000)}`);
          return m[1]!;
        },
        { timeout: 60_000, interval: 100 },
      );
      // While the registry fails (every attempt echoes): the error is current in both bodies.
      const readyz = await vi.waitFor(
        async () => {
          const res = await fetch(`${url}/readyz`);
          const body = await res.text();
          expect(res.status).toBe(503);
          expect(body).toContain("registry gh: ");
          expect(body).toContain("Bad credentials: token");
          return body;
        },
        { timeout: 30_000, interval: 100 },
      );
      const status = await (await fetch(`${url}/status`)).text();
      const gh = (
        JSON.parse(status) as { registries: Array<{ name: string; lastError: { message: string } | null }> }
      ).registries.find((r) => r.name === "gh");
      expect(gh?.lastError?.message, "/status: the echoing error is current").toContain(
        "Bad credentials: token",
      );
      expect.soft(readyz, "/readyz masks").toContain(`token ${MASK} is revoked`);
      expect.soft(status, "/status masks").toContain(`token ${MASK} is revoked`);
      expectClean(readyz, "/readyz");
      expectClean(status, "/status");

      // The failure path's Event on regcred's own Pod, as the API server stores it.
      const events = cluster.kubeConfig().makeApiClient(EventsV1Api);
      const notes = await vi.waitFor(
        async () => {
          const list = await events.listNamespacedEvent({ namespace: pod.namespace });
          const mine = list.items.filter(
            (e) => e.regarding?.name === pod.name && e.reason === "RefreshFailed",
          );
          expect(mine.length).toBeGreaterThan(0);
          return mine.map((e) => e.note ?? "");
        },
        { timeout: 30_000, interval: 200 },
      );
      for (const note of notes) {
        expect.soft(note, "the Event masks").toContain(`token ${MASK} is revoked`);
        expectClean(note, "the RefreshFailed Event");
      }
    } finally {
      daemon.child.kill("SIGTERM");
      await daemon.exited;
    }
    expect(gets).toBeGreaterThan(0);
    expect.soft(daemon.out.stderr, "the logs mask").toContain(`token ${MASK} is revoked`);
    expectClean(daemon.out.stderr, "the daemon's logs");
    expectClean(daemon.out.stdout, "the daemon's stdout");
  });

  it("regcred once: exits 1 and its stderr masks the token", async () => {
    const once = cli(["once", "-c", config, "--output", "kube", "--kubeconfig", regcred.kubeconfigPath]);
    expect(await once.exited).toBe(1);
    expect.soft(once.out.stderr, "once's stderr masks").toContain(`token ${MASK} is revoked`);
    expectClean(once.out.stderr, "regcred once's stderr");
    expectClean(once.out.stdout, "regcred once's stdout");
  });
});
