// A Secret write's body: the manifest's JSON byte for byte, its data serialized once per body and
// shared by every namespace's request, and sent in parts with the right content-length.
import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { targetBody, type DesiredSecret, type TargetBody } from "../../src/engine/plan.ts";
import { secretManifest } from "../../src/output/manifest.ts";
import { RawClient } from "../../src/kube/raw.ts";
import { secretRequestBody } from "../../src/kube/secrets/request-body.ts";
import { kubeConfigFor } from "../helpers/kubeconfig.ts";

const CONFIG = `registries:
  - { name: a, provider: static, registries: [docker.io], username: u, passwordFrom: { env: P } }
secrets:
  - name: pull
    registries: [a]
    annotations: { note: 'a "quoted" ünïcødé note 🐳' }
`;

function body(password: string): TargetBody {
  const target = parseConfig("t.yaml", CONFIG).secrets[0]!;
  const made = targetBody(
    target,
    new Map([["a", [{ registries: ["docker.io"], username: "u", password, expiresAt: null }]]]),
  );
  if (!("data" in made)) throw new Error(made.message);
  return made;
}

const secretIn = (namespace: string, b: TargetBody): DesiredSecret => ({
  namespace,
  name: "pull",
  type: "kubernetes.io/dockerconfigjson",
  body: b,
});

const bytes = (parts: readonly (string | Uint8Array)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)));

describe("secretRequestBody", () => {
  it("is the manifest's JSON, whatever the metadata holds", () => {
    const s = secretIn("team-ä", body("p".repeat(3_000)));
    const manifest = secretManifest(s);
    const sent = bytes(secretRequestBody(manifest, s.body).parts);
    expect(JSON.parse(sent.toString("utf8"))).toEqual(manifest);
  });

  it("serializes a body's data once: every namespace's request shares the same bytes", () => {
    const b = body("p".repeat(3_000));
    const [x, y] = ["a", "b"].map((ns) => secretRequestBody(secretManifest(secretIn(ns, b)), b).parts);
    const shared = x!.find((p) => typeof p !== "string");
    expect(shared).toBeDefined();
    expect(shared!.byteLength).toBeGreaterThan(3_000);
    expect(y).toContain(shared);
    // A rotation is a new body: its data is its own.
    const rotated = body("q".repeat(3_000));
    const z = secretRequestBody(secretManifest(secretIn("a", rotated)), rotated).parts;
    expect(z).not.toContain(shared);
    expect(JSON.parse(bytes(z).toString("utf8")).data[".dockerconfigjson"]).toBe(rotated.data);
  });
});

describe("RawClient with a body in parts", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it("sends the parts in order under a content-length counted in bytes", async () => {
    const received: Array<{ length: string | undefined; body: Buffer }> = [];
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push({ length: req.headers["content-length"], body: Buffer.concat(chunks) });
        res.writeHead(201, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const s = secretIn("team-ä", body("p".repeat(3_000)));
    const sent = secretRequestBody(secretManifest(s), s.body);

    await new RawClient(kubeConfigFor(server)).call("POST", "/api/v1/namespaces/x/secrets", sent);

    const expected = bytes(sent.parts);
    expect(received).toHaveLength(1);
    expect(received[0]!.length).toBe(String(expected.byteLength));
    expect(received[0]!.body.equals(expected)).toBe(true);
  });
});
