import { mkdtempSync, renameSync, symlinkSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { createStaticProvider } from "../../../providers/static/index.ts";
import { staticSchema } from "../../../providers/static/schema.ts";
import { createSecretReader } from "../../../src/config/secret-reader.ts";
import { redact, resetRedactor } from "../../../src/base/redact.ts";
import { captureLogger } from "../../helpers/log.ts";
import { ProviderError } from "../../../providers/contract.ts";

function provider(settings: Record<string, unknown>, dir: string, env: NodeJS.ProcessEnv = {}) {
  const parsed = staticSchema.parse({ name: "s", provider: "static", ...settings });
  return createStaticProvider(parsed, { log: captureLogger().log, secrets: createSecretReader(dir, env) });
}

describe("static provider", () => {
  it("reads the password from a file relative to the config and trims the newline", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "regcred-static-"));
    writeFileSync(path.join(dir, "pw"), "s3cret-from-file\n");
    const creds = await provider(
      { registries: ["quay.io"], username: "robot", passwordFrom: { file: "pw" } },
      dir,
    ).mint(AbortSignal.timeout(1000));
    expect(creds).toEqual([
      { registries: ["quay.io"], username: "robot", password: "s3cret-from-file", expiresAt: null },
    ]);
  });

  it("reads username and password from the environment, with a known expiry", async () => {
    const p = provider(
      {
        registries: ["us.icr.io"],
        usernameFrom: { env: "ICR_USER" },
        passwordFrom: { env: "ICR_KEY" },
        expiresAt: "2027-03-01T00:00:00Z",
      },
      "/",
      { ICR_USER: "iamapikey", ICR_KEY: "ibm-cloud-api-key-value" },
    );
    const [cred] = await p.mint(AbortSignal.timeout(1000));
    expect(cred).toEqual({
      registries: ["us.icr.io"],
      username: "iamapikey",
      password: "ibm-cloud-api-key-value",
      expiresAt: new Date("2027-03-01T00:00:00Z"),
    });
  });

  it("registers what it reads with the redactor", async () => {
    resetRedactor();
    const p = provider({ registries: ["cp.icr.io"], username: "cp", passwordFrom: { env: "K" } }, "/", {
      K: "entitlement-key-xyz",
    });
    await p.mint(AbortSignal.timeout(1000));
    expect(redact("key=entitlement-key-xyz")).toBe("key=**redacted**");
  });

  it("a missing file or variable is a classified failure that names the reference, not the value", async () => {
    const p = provider(
      { registries: ["quay.io"], username: "u", passwordFrom: { file: "/nonexistent/pw" } },
      "/",
    );
    await expect(p.mint(AbortSignal.timeout(1000))).rejects.toMatchObject({
      reason: "source_unavailable",
      message: "cannot read file /nonexistent/pw: ENOENT",
    });
    const e = provider({ registries: ["quay.io"], username: "u", passwordFrom: { env: "NOPE" } }, "/", {});
    await expect(e.mint(AbortSignal.timeout(1000))).rejects.toBeInstanceOf(ProviderError);
  });

  it("re-reads when a Kubernetes-style mounted Secret is swapped (..data symlink)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "regcred-mount-"));
    // The kubelet's atomic writer: files live in a timestamped dir, ..data points at it,
    // and the visible name is a symlink through ..data.
    const v1 = path.join(dir, "..2026_11_22_v1");
    mkdirSync(v1);
    writeFileSync(path.join(v1, "password"), "first-password");
    symlinkSync("..2026_11_22_v1", path.join(dir, "..data"));
    symlinkSync("..data/password", path.join(dir, "password"));
    const p = provider(
      { registries: ["quay.io"], username: "u", passwordFrom: { file: path.join(dir, "password") } },
      dir,
    );
    expect((await p.mint(AbortSignal.timeout(1000)))[0]!.password).toBe("first-password");
    const changed = vi.fn();
    const stop = p.watch!(changed);
    const v2 = path.join(dir, "..2026_11_22_v2");
    mkdirSync(v2);
    writeFileSync(path.join(v2, "password"), "rotated-password");
    symlinkSync("..2026_11_22_v2", path.join(dir, "..data_tmp"));
    renameSync(path.join(dir, "..data_tmp"), path.join(dir, "..data"));
    await vi.waitFor(() => expect(changed).toHaveBeenCalled(), { timeout: 3000, interval: 20 });
    stop();
    expect((await p.mint(AbortSignal.timeout(1000)))[0]!.password).toBe("rotated-password");
  });
});
