import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/program.ts";
import { captureLogger } from "../helpers/log.ts";

async function once(args: string[]) {
  let stdout = "";
  const code = await main(["once", ...args], {
    stdout: (t) => void (stdout += t),
    stderr: () => {},
    log: captureLogger().log,
  });
  return { code, stdout };
}

describe("regcred once --output dir:", () => {
  it("mints, writes one manifest per namespace and exits 0", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "regcred-once-"));
    writeFileSync(path.join(dir, "pw"), "once-dir-password");
    writeFileSync(
      path.join(dir, "config.yaml"),
      "registries:\n  - { name: q, provider: static, registries: [quay.io], username: u, passwordFrom: { file: pw } }\nsecrets:\n  - { name: pull, registries: [q] }\n",
    );
    const out = path.join(dir, "out");
    const { code, stdout } = await once([
      "-c",
      path.join(dir, "config.yaml"),
      "-o",
      `dir:${out}`,
      "-n",
      "a,b",
    ]);
    expect(code).toBe(0);
    expect(stdout).toBe(`2 secrets to dir:${out}: 2 created, 0 updated, 0 unchanged, 0 deleted, 0 failed\n`);
    expect(readFileSync(path.join(out, "b", "pull.yaml"), "utf8")).toContain(
      "kubernetes.io/dockerconfigjson",
    );
  });

  it("exits 1 when a registry fails", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "regcred-once-"));
    writeFileSync(
      path.join(dir, "config.yaml"),
      "registries:\n  - { name: q, provider: static, registries: [quay.io], username: u, passwordFrom: { file: nope } }\nsecrets:\n  - { name: pull, registries: [q] }\n",
    );
    const { code } = await once(["-c", path.join(dir, "config.yaml"), "-o", `dir:${path.join(dir, "out")}`]);
    expect(code).toBe(1);
  });
});
