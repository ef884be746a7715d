import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createDirSink } from "../../src/output/dir-sink.ts";
import { plan } from "../../src/engine/plan.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { captureLogger } from "../helpers/log.ts";
import { target } from "../helpers/config.ts";

const creds = (pw: string) =>
  new Map([["r", [{ registries: ["r.example.com"], username: "u", password: pw, expiresAt: null }]]]);
const ns = (...names: string[]) => names.map((name) => ({ name, labels: {} }));

describe("directory sink", () => {
  it("writes one 0600 file per namespace/secret, skips unchanged, updates changed", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "regcred-dir-"));
    const { log } = captureLogger();
    const sink = createDirSink(dir, { log, metrics: new Metrics() });
    const targets = [target({ name: "pull", registries: ["r"] })];

    expect(await sink.apply(plan(targets, creds("pw-one1"), ns("a", "b")))).toMatchObject({
      created: 2,
      updated: 0,
      unchanged: 0,
    });
    const file = path.join(dir, "a", "pull.yaml");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const before = statSync(file).mtimeMs;
    expect(await sink.apply(plan(targets, creds("pw-one1"), ns("a", "b")))).toMatchObject({
      created: 0,
      updated: 0,
      unchanged: 2,
    });
    expect(statSync(file).mtimeMs).toBe(before);
    expect(await sink.apply(plan(targets, creds("pw-two2"), ns("a", "b")))).toMatchObject({ updated: 2 });
    const data = /\.dockerconfigjson: (\S+)/.exec(readFileSync(file, "utf8"))![1]!;
    expect(JSON.parse(Buffer.from(data, "base64").toString()).auths["r.example.com"].password).toBe(
      "pw-two2",
    );
    // No temp files left behind by the atomic replace.
    expect(readdirSync(path.join(dir, "a"))).toEqual(["pull.yaml"]);
  });

  it("removes its own files that no target wants, and never files it did not write", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "regcred-dir-"));
    const { log } = captureLogger();
    const sink = createDirSink(dir, { log, metrics: new Metrics() });
    const targets = [target({ name: "pull", registries: ["r"] })];
    await sink.apply(plan(targets, creds("pw-one1"), ns("a", "b")));
    writeFileSync(path.join(dir, "b", "someone-else.yaml"), "apiVersion: v1\nkind: Secret\n");
    const result = await sink.apply(plan(targets, creds("pw-one1"), ns("a")));
    expect(result.deleted).toBe(1);
    expect(existsSync(path.join(dir, "b", "pull.yaml"))).toBe(false);
    expect(existsSync(path.join(dir, "b", "someone-else.yaml"))).toBe(true);
  });
});
