import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/program.ts";
import { captureLogger } from "../helpers/log.ts";

function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), "regcred-render-"));
  writeFileSync(path.join(dir, "hub-token"), "dckr_pat_render_test_value\n");
  writeFileSync(path.join(dir, "icr-key"), "icr-api-key-render-test");
  writeFileSync(
    path.join(dir, "config.yaml"),
    `registries:
  - name: dockerhub
    provider: static
    registries: [docker.io]
    username: octocat
    passwordFrom: { file: hub-token }
  - name: icr
    provider: static
    registries: [us.icr.io, de.icr.io]
    username: iamapikey
    passwordFrom: { file: icr-key }
secrets:
  - name: pull
    registries: [dockerhub, icr]
  - name: hub-only
    registries: [dockerhub]
`,
  );
  return dir;
}

async function render(args: string[]) {
  let stdout = "";
  let stderr = "";
  const { log } = captureLogger();
  const code = await main(["render", ...args], {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    log,
  });
  return { code, stdout, stderr };
}

interface SecretDoc {
  apiVersion: string;
  kind: string;
  type: string;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  data: Record<string, string>;
}

describe("regcred render", () => {
  it("prints dockerconfigjson Secrets whose auths decode to the credentials", async () => {
    const dir = workspace();
    const { code, stdout } = await render(["-c", path.join(dir, "config.yaml"), "-n", "team-a,team-b"]);
    expect(code).toBe(0);
    const docs = parseAllDocuments(stdout).map((d) => d.toJS() as SecretDoc);
    expect(docs.map((d) => `${d.metadata.namespace}/${d.metadata.name}`)).toEqual([
      "team-a/pull",
      "team-b/pull",
      "team-a/hub-only",
      "team-b/hub-only",
    ]);
    for (const doc of docs) {
      expect(doc).toMatchObject({ apiVersion: "v1", kind: "Secret", type: "kubernetes.io/dockerconfigjson" });
      expect(doc.metadata.labels["app.kubernetes.io/managed-by"]).toBe("regcred");
    }
    const config = JSON.parse(Buffer.from(docs[0]!.data[".dockerconfigjson"]!, "base64").toString()) as {
      auths: Record<string, { username: string; password: string; auth: string }>;
    };
    expect(config.auths).toEqual({
      "https://index.docker.io/v1/": {
        username: "octocat",
        password: "dckr_pat_render_test_value",
        auth: Buffer.from("octocat:dckr_pat_render_test_value").toString("base64"),
      },
      "de.icr.io": {
        username: "iamapikey",
        password: "icr-api-key-render-test",
        auth: Buffer.from("iamapikey:icr-api-key-render-test").toString("base64"),
      },
      "us.icr.io": {
        username: "iamapikey",
        password: "icr-api-key-render-test",
        auth: Buffer.from("iamapikey:icr-api-key-render-test").toString("base64"),
      },
    });
    const hubOnly = JSON.parse(Buffer.from(docs[2]!.data[".dockerconfigjson"]!, "base64").toString());
    expect(Object.keys(hubOnly.auths)).toEqual(["https://index.docker.io/v1/"]);
  });

  it("--secret limits the output", async () => {
    const dir = workspace();
    const { code, stdout } = await render(["-c", path.join(dir, "config.yaml"), "--secret", "hub-only"]);
    expect(code).toBe(0);
    const docs = parseAllDocuments(stdout).map((d) => d.toJS() as SecretDoc);
    expect(docs.map((d) => `${d.metadata.namespace}/${d.metadata.name}`)).toEqual(["default/hub-only"]);
  });

  it("exits 1 and still prints what it can when a registry fails", async () => {
    const dir = workspace();
    writeFileSync(
      path.join(dir, "config.yaml"),
      `registries:
  - { name: ok, provider: static, registries: [quay.io], username: u, passwordFrom: { file: hub-token } }
  - { name: broken, provider: static, registries: [ghcr.io], username: u, passwordFrom: { file: missing-file } }
secrets:
  - { name: pull, registries: [ok, broken] }
`,
    );
    const { code, stdout } = await render(["-c", path.join(dir, "config.yaml")]);
    expect(code).toBe(1);
    const docs = parseAllDocuments(stdout).map((d) => d.toJS() as SecretDoc);
    expect(docs).toHaveLength(1);
    const auths = JSON.parse(Buffer.from(docs[0]!.data[".dockerconfigjson"]!, "base64").toString()).auths;
    expect(Object.keys(auths)).toEqual(["quay.io"]);
  });
});
