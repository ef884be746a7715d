import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startDaemon, type Daemon } from "../../src/daemon.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { createDirSink } from "../../src/output/dir-sink.ts";
import { staticNamespaces } from "../../src/engine/sink.ts";
import { ProviderError, type Credential, type Provider } from "../../providers/contract.ts";
import { configFrom } from "../helpers/config.ts";
import { captureLogger } from "../helpers/log.ts";
import { find, parsePrometheus } from "../helpers/prom.ts";

const config = () =>
  configFrom(`
registries:
  - { name: rotating, provider: static, registries: [registry.example.com], username: robot, passwordFrom: { env: UNUSED } }
  - { name: steady, provider: static, registries: [quay.io], username: quay-bot, passwordFrom: { env: UNUSED } }
secrets:
  - { name: pull, registries: [rotating, steady] }
refresh: { at: 0.5, jitter: 0, minInterval: 1s, margin: 1s, retry: { initial: 1s, max: 2s } }
server: { port: 0, host: 127.0.0.1 }
`);

/** Known values: every one must stay out of logs, errors, /status and /metrics. */
const secrets = [
  "tok-AAAA-first-value",
  "tok-BBBB-second-value",
  "tok-CCCC-third-value",
  "tok-DDDD-fourth-value",
];

function rotatingProvider(): Provider & { calls: number } {
  let i = 0;
  return {
    calls: 0,
    async mint(): Promise<Credential[]> {
      this.calls++;
      const n = i++;
      // The third mint fails with an upstream error that echoes the token, as some APIs do.
      if (n === 2)
        throw new ProviderError(
          "bad_credentials",
          `token ${secrets[1]} rejected (auth ${Buffer.from(`robot:${secrets[1]}`).toString("base64")})`,
        );
      const password = secrets[Math.min(n, secrets.length - 1)]!;
      return [
        {
          registries: ["registry.example.com"],
          username: "robot",
          password,
          expiresAt: new Date(Date.now() + 2_000),
        },
      ];
    },
  };
}

const steady: Provider = {
  async mint() {
    return [
      { registries: ["quay.io"], username: "quay-bot", password: "quay-steady-password-1", expiresAt: null },
    ];
  },
};

let daemon: Daemon | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

/** The daemon serving HTTP, writing to a fresh folder, with the given providers. */
async function serve(
  namespaces: string[],
  providers: Record<string, Provider>,
  level: "debug" | "info" = "info",
  onRefreshFailure?: () => void,
) {
  const capture = captureLogger(level);
  const metrics = new Metrics();
  const out = mkdtempSync(path.join(tmpdir(), "regcred-daemon-"));
  daemon = await startDaemon({
    config: config(),
    log: capture.log,
    metrics,
    sink: createDirSink(out, { log: capture.log, metrics }),
    namespaces: staticNamespaces(namespaces),
    serve: true,
    providers,
    ...(onRefreshFailure ? { onRefreshFailure } : {}),
  });
  return { ...capture, metrics, out, daemon };
}

describe("daemon", () => {
  it("keeps every minted value out of logs, errors, /status and /metrics over several refreshes", async () => {
    const rotating = rotatingProvider();
    // /status read while the echoing error is the registry's current one (the next mint, which
    // clears it, is a retry period away): read later, it would hold nothing to leak.
    let statusDuringError: Promise<string> | undefined;
    const { lines, out, daemon } = await serve(["team-a", "team-b"], { rotating, steady }, "debug", () => {
      statusDuringError ??= fetch(`${daemon.server!.url}/status`).then((r) => r.text());
    });
    await vi.waitFor(() => expect(rotating.calls).toBeGreaterThanOrEqual(5), {
      timeout: 10_000,
      interval: 100,
    });
    await daemon.sync.idle();
    const status = await (await fetch(`${daemon.server!.url}/status`)).text();
    const erroring = await statusDuringError!;
    expect(erroring).toContain("bad_credentials");
    expect(erroring).toContain("**redacted**");
    const metricsText = await (await fetch(`${daemon.server!.url}/metrics`)).text();

    // The sink really received the values: the check below would catch a leak.
    const written = readFileSync(path.join(out, "team-a", "pull.yaml"), "utf8");
    const body = Buffer.from(/\.dockerconfigjson: (\S+)/.exec(written)![1]!, "base64").toString();
    expect(body).toContain("quay-steady-password-1");
    expect(secrets.some((s) => body.includes(s))).toBe(true);

    const forbidden = [...secrets, "quay-steady-password-1"].flatMap((s) => [
      s,
      Buffer.from(s).toString("base64"),
      Buffer.from(`robot:${s}`).toString("base64"),
      Buffer.from(`quay-bot:${s}`).toString("base64"),
    ]);
    const logs = lines.join("");
    expect(logs).toContain("**redacted**"); // the echoed token was there, and was masked
    expect(logs).toContain("bad_credentials");
    for (const value of forbidden) {
      expect(logs, "logs").not.toContain(value);
      expect(status, "/status").not.toContain(value);
      expect(erroring, "/status while the error is current").not.toContain(value);
      expect(metricsText, "/metrics").not.toContain(value);
    }
    const parsed = JSON.parse(status) as { registries: Array<{ name: string; lastError: unknown }> };
    expect(parsed.registries.map((r) => r.name)).toEqual(["rotating", "steady"]);
  });

  it("exposes the expected metric series and readiness", async () => {
    const rotating = rotatingProvider();
    const { daemon } = await serve(["team-a", "team-b", "team-c"], { rotating, steady });
    await vi.waitFor(() => expect(rotating.calls).toBeGreaterThanOrEqual(2), {
      timeout: 5_000,
      interval: 50,
    });
    await daemon.sync.idle();
    const ready = await fetch(`${daemon.server!.url}/readyz`);
    expect(ready.status).toBe(200);
    expect((await fetch(`${daemon.server!.url}/healthz`)).status).toBe(200);
    const samples = parsePrometheus(await (await fetch(`${daemon.server!.url}/metrics`)).text());

    const expiry = find(samples, "regcred_credential_expiry_timestamp_seconds", {
      registry: "rotating",
      provider: "static",
    });
    expect(expiry).toHaveLength(1);
    expect(expiry[0]!.value).toBeGreaterThan(Date.now() / 1000 - 5);
    // A credential without expiry has no expiry series rather than a fake one.
    expect(find(samples, "regcred_credential_expiry_timestamp_seconds", { registry: "steady" })).toHaveLength(
      0,
    );
    expect(
      find(samples, "regcred_refresh_total", { registry: "rotating", result: "success" })[0]!.value,
    ).toBeGreaterThanOrEqual(2);
    expect(find(samples, "regcred_refresh_duration_seconds_count", { registry: "steady" })[0]!.value).toBe(1);
    expect(
      find(samples, "regcred_last_success_timestamp_seconds", { registry: "steady" })[0]!.value,
    ).toBeGreaterThan(0);
    expect(
      find(samples, "regcred_secret_writes_total", { secret: "pull", result: "created" })[0]!.value,
    ).toBe(3);
    expect(find(samples, "regcred_registry_credential_usable", { registry: "rotating" })[0]!.value).toBe(1);
  });

  it("is not ready while a registry has no usable credential", async () => {
    const failing: Provider = {
      async mint() {
        throw new ProviderError(
          "access_denied",
          "User is not authorized to perform: ecr:GetAuthorizationToken",
        );
      },
    };
    const { daemon } = await serve(["default"], { rotating: failing, steady });
    await daemon.refresher.settled();
    const res = await fetch(`${daemon.server!.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain("registry rotating: User is not authorized");
    const samples = parsePrometheus(await (await fetch(`${daemon.server!.url}/metrics`)).text());
    expect(
      find(samples, "regcred_refresh_failures_total", { registry: "rotating", reason: "access_denied" })[0]!
        .value,
    ).toBe(1);
  });
});
