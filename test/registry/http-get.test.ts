/**
 * The registry handshake's HTTP client (src/registry/http-get.ts) against loopback servers:
 * fetch's redirect rules, kept without fetch.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { nodeGet } from "../../src/registry/http-get.ts";

let servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
});

/** A server on 127.0.0.1 recording the headers of every request; answer() decides the reply. */
async function serve(
  answer: (path: string, reply: (status: number, headers?: object, body?: string) => void) => void,
) {
  const seen: Array<{ path: string; headers: IncomingHttpHeaders }> = [];
  const server = createServer((req, res) => {
    seen.push({ path: req.url!, headers: req.headers });
    answer(req.url!, (status, headers = {}, body = "") => res.writeHead(status, { ...headers }).end(body));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const init = (authorization: string) => ({
  headers: { authorization, "user-agent": "test" },
  signal: AbortSignal.timeout(5_000),
});

describe("nodeGet", () => {
  it("follows a redirect within the origin with the Authorization header, and drops it when the redirect leaves the origin", async () => {
    const other = await serve((_, reply) => reply(200, { "www-authenticate": "Bearer x" }, "elsewhere"));
    const home = await serve((path, reply) =>
      path === "/v2/"
        ? reply(307, { location: "/v2/moved" })
        : reply(302, { location: `${other.origin}/blob` }),
    );
    const res = await nodeGet(`${home.origin}/v2/`, init("Basic c2VjcmV0"));
    expect(res).toMatchObject({ status: 200, ok: true, body: "elsewhere" });
    expect(res.headers.get("WWW-Authenticate")).toBe("Bearer x");
    expect(home.seen.map((r) => [r.path, r.headers.authorization])).toEqual([
      ["/v2/", "Basic c2VjcmV0"],
      ["/v2/moved", "Basic c2VjcmV0"],
    ]);
    expect(other.seen).toHaveLength(1);
    expect(other.seen[0]!.headers.authorization).toBeUndefined();
    expect(other.seen[0]!.headers["user-agent"]).toBe("test");
  });

  it("gives up after five redirects", async () => {
    const loop = await serve((path, reply) => reply(302, { location: `/hop${path.length}` }));
    await expect(nodeGet(`${loop.origin}/`, init("Basic eA=="))).rejects.toThrow(/more than 5 redirects/);
    expect(loop.seen).toHaveLength(6);
  });

  it("reads a 401 with its challenge as an answer, not an error", async () => {
    const registry = await serve((_, reply) =>
      reply(401, { "www-authenticate": 'Basic realm="r"' }, '{"errors":[]}'),
    );
    const res = await nodeGet(`${registry.origin}/v2/`, init("Basic eA=="));
    expect(res).toMatchObject({ status: 401, ok: false, body: '{"errors":[]}' });
    expect(res.headers.get("www-authenticate")).toBe('Basic realm="r"');
    expect(res.headers.get("x-absent")).toBeNull();
  });

  it("refuses an answer over 1 MiB", async () => {
    const big = await serve((_, reply) => reply(200, {}, "x".repeat(1024 * 1024 + 1)));
    await expect(nodeGet(`${big.origin}/v2/`, init("Basic eA=="))).rejects.toThrow(/answer over/);
  });
});
