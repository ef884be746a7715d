import { spawn } from "node:child_process";
import { writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { writeRunConfig } from "./run-config.ts";

const root = path.resolve(import.meta.dirname, "../..");

describe("regcred run (real process)", () => {
  it("writes Secrets, serves /readyz, and exits 0 promptly on SIGTERM", async () => {
    const { dir } = writeRunConfig("run-test-password-value");
    const child = spawn(
      path.join(root, "node_modules/.bin/tsx"),
      [
        "src/main.ts",
        "run",
        "-c",
        path.join(dir, "config.yaml"),
        "--output",
        `dir:${path.join(dir, "out")}`,
        "-n",
        "demo",
      ],
      // Its own process group: if an assertion fails first, onTestFinished kills tsx and node together.
      { cwd: root, stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    onTestFinished(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // exited already
      }
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));

    await vi.waitFor(() => expect(stderr).toContain('"msg":"regcred running"'), {
      timeout: 20_000,
      interval: 100,
    });
    const url = /"url":"([^"]+)"/.exec(stderr)![1]!;
    await vi.waitFor(
      async () => {
        expect((await fetch(`${url}/readyz`)).status).toBe(200);
        expect(existsSync(path.join(dir, "out", "demo", "pull.yaml"))).toBe(true);
      },
      { timeout: 10_000, interval: 100 },
    );
    const sent = Date.now();
    child.kill("SIGTERM");
    const code = await exited;
    const took = Date.now() - sent;
    expect(code).toBe(0);
    expect(took).toBeLessThan(10_000);
    expect(stderr).toContain('"msg":"stopped"');
    expect(stderr).not.toContain("run-test-password-value");
  }, 40_000);

  it("serves /readyz (503) while its caches cannot sync, and exits 0 at once on SIGTERM during start-up", async () => {
    const { dir } = writeRunConfig("run-test-password-value", "kubernetes: { events: false }\n");
    // An API server that never answers: nothing listens on port 1.
    writeFileSync(
      path.join(dir, "kubeconfig"),
      `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: not-a-real-token } }]
contexts: [{ name: c, context: { cluster: c, user: u } }]
current-context: c
`,
    );
    const child = spawn(
      path.join(root, "node_modules/.bin/tsx"),
      [
        "src/main.ts",
        "run",
        "-c",
        path.join(dir, "config.yaml"),
        "--kubeconfig",
        path.join(dir, "kubeconfig"),
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    onTestFinished(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // exited already
      }
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    );
    await vi.waitFor(() => expect(stderr).toMatch(/"url":"http[^"]+"/), { timeout: 20_000, interval: 100 });
    const url = /"url":"([^"]+)"/.exec(stderr)![1]!;
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain("watch caches not synced yet");
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(stderr).not.toContain('"msg":"regcred running"');

    const sent = Date.now();
    child.kill("SIGTERM");
    const { code, signal } = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - sent).toBeLessThan(5_000);
    expect(stderr).toContain('"msg":"shutting down during start-up"');
  }, 40_000);
});
