/**
 * The v2 auth handshake (src/registry/verify.ts) against the rig's real registry (distribution
 * 2.8) in both of its auth modes, and the answers that must not count as a rejection.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyCredential, apiHostOf, isLoopbackHost } from "../../../src/registry/verify.ts";
import { startRegistry, type Registry } from "../../rig/registry.ts";
import { freePort } from "../../rig/util.ts";

const good = { username: "puller", password: "a-long-registry-token-".padEnd(200, "x") };
const other = { username: "puller", password: "a-long-registry-token-".padEnd(200, "y") };

let basic: Registry;
let bearer: Registry;
beforeAll(async () => {
  [basic, bearer] = await Promise.all([
    startRegistry({ auth: "htpasswd", users: [{ username: "puller", password: "short-enough-pw" }] }),
    startRegistry({ auth: "token", users: [good] }),
  ]);
  await bearer.pushImage("team/app", "v1");
});
afterAll(async () => {
  await Promise.all([basic?.stop(), bearer?.stop()]);
});

describe("verifyCredential against distribution", () => {
  it("accepts a good password on a Basic (htpasswd) registry and rejects a wrong one", async () => {
    const ok = await verifyCredential({
      host: basic.host,
      plainHttp: true,
      username: "puller",
      password: "short-enough-pw",
    });
    expect(ok).toEqual({ result: "accepted", scheme: "basic" });
    const bad = await verifyCredential({
      host: basic.host,
      plainHttp: true,
      username: "puller",
      password: "wrong-password",
    });
    expect(bad).toMatchObject({ result: "rejected", status: 401 });
  });

  it("gets a token from the Bearer realm with a good credential, and is refused by the realm with a wrong one", async () => {
    const before = bearer.tokenServer!.requests.length;
    expect(await verifyCredential({ host: bearer.host, plainHttp: true, ...good })).toEqual({
      result: "accepted",
      scheme: "bearer",
    });
    // The realm really was asked, with the credential under test.
    expect(bearer.tokenServer!.requests.slice(before)).toEqual([
      expect.objectContaining({ username: "puller", ok: true }),
    ]);
    const bad = await verifyCredential({ host: bearer.host, plainHttp: true, ...other });
    expect(bad).toMatchObject({ result: "rejected", status: 401 });
    expect(bad.result === "rejected" && bad.message).toContain("token realm");
  });

  it("proves pull rights on a named repository with a scoped token", async () => {
    const before = bearer.tokenServer!.requests.length;
    expect(
      await verifyCredential({ host: bearer.host, plainHttp: true, repository: "team/app", ...good }),
    ).toEqual({
      result: "accepted",
      scheme: "bearer",
    });
    expect(bearer.tokenServer!.requests.slice(before)[0]!.scopes).toEqual(["repository:team/app:pull"]);
    // A repository that is not there is not a credential the workload can pull with.
    expect(
      await verifyCredential({ host: bearer.host, plainHttp: true, repository: "team/missing", ...good }),
    ).toMatchObject({ result: "rejected", status: 404 });
  });

  it("never leaves the password in a verdict", async () => {
    const bad = await verifyCredential({ host: bearer.host, plainHttp: true, ...other });
    expect(JSON.stringify(bad)).not.toContain(other.password);
    expect(JSON.stringify(bad)).not.toContain(Buffer.from(`puller:${other.password}`).toString("base64"));
  });
});

describe("what is not a rejection", () => {
  let servers: Server[] = [];
  const serve = async (handler: Parameters<typeof createServer>[1]) => {
    const s = createServer(handler);
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    return `127.0.0.1:${(s.address() as AddressInfo).port}`;
  };
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    servers = [];
  });

  it("a closed port is unreachable", async () => {
    const host = `127.0.0.1:${await freePort()}`;
    expect(await verifyCredential({ host, plainHttp: true, ...good })).toMatchObject({
      result: "unreachable",
    });
  });

  it("a registry answering 503 is unreachable, not a bad credential", async () => {
    const host = await serve((_req, res) => res.writeHead(503).end("down"));
    expect(await verifyCredential({ host, plainHttp: true, ...good })).toMatchObject({
      result: "unreachable",
      message: expect.stringContaining("503"),
    });
  });

  it("a realm answering 500 is unreachable", async () => {
    let realm = "";
    const host = await serve((req, res) => {
      if (req.url?.startsWith("/token")) return res.writeHead(500).end();
      res.writeHead(401, { "www-authenticate": `Bearer realm="${realm}",service="x"` }).end();
    });
    realm = `http://${host}/token`;
    expect(await verifyCredential({ host, plainHttp: true, ...good })).toMatchObject({
      result: "unreachable",
    });
  });

  it("a registry that asks for no credential is unverifiable", async () => {
    const host = await serve((_req, res) => res.writeHead(200).end("{}"));
    expect(await verifyCredential({ host, plainHttp: true, ...good })).toMatchObject({
      result: "unverifiable",
    });
  });

  it("a hung registry times out as unreachable", async () => {
    const host = await serve(() => {});
    expect(await verifyCredential({ host, plainHttp: true, timeoutMs: 300, ...good })).toMatchObject({
      result: "unreachable",
    });
  });
});

describe("hosts", () => {
  it("maps Docker Hub's keys to its API host and keeps host:port", () => {
    expect(apiHostOf("https://index.docker.io/v1/")).toBe("registry-1.docker.io");
    expect(apiHostOf("docker.io")).toBe("registry-1.docker.io");
    expect(apiHostOf("gcr.io/my-project")).toBe("gcr.io");
    expect(apiHostOf("registry.local:5000/team")).toBe("registry.local:5000");
    expect(isLoopbackHost("127.0.0.1:5000")).toBe(true);
    expect(isLoopbackHost("localhost")).toBe(true);
    expect(isLoopbackHost("[::1]:5000")).toBe(true);
    expect(isLoopbackHost("registry.local:5000")).toBe(false);
  });
});
