import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it, onTestFinished, vi } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");

describe("regcred run (real process)", () => {
  it("writes Secrets, serves /readyz, and exits 0 promptly on SIGTERM", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "regcred-run-"));
    writeFileSync(path.join(dir, "pw"), "run-test-password-value");
    writeFileSync(
      path.join(dir, "config.yaml"),
      `registries:
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { file: pw } }
secrets:
  - { name: pull, registries: [hub] }
server: { port: 0, host: 127.0.0.1 }
`,
    );
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
});
