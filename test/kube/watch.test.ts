// The watch stream's framing: one JSON event per line, whatever the chunks the bytes arrive in.
import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { kubeConfigFor } from "../helpers/kubeconfig.ts";
import { watchOnce, type WatchEvent } from "../../src/kube/watch.ts";

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** A server that answers the watch with `chunks`, each written (and flushed) on its own. */
async function serving(chunks: Buffer[]): Promise<KubeConfig> {
  server = createServer(async (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    for (const c of chunks) {
      res.write(c);
      await new Promise((r) => setTimeout(r, 2));
    }
    res.end();
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return kubeConfigFor(server);
}

async function watched(kc: KubeConfig): Promise<Array<WatchEvent<KubernetesObject>>> {
  const seen: Array<WatchEvent<KubernetesObject>> = [];
  await watchOnce(
    kc,
    "/api/v1/secrets",
    { resourceVersion: "1", timeoutSeconds: 5, signal: new AbortController().signal },
    (e) => seen.push(e),
  );
  return seen;
}

describe("watchOnce", () => {
  it("parses events split anywhere, several to a chunk, and a multi-byte character cut in two", async () => {
    const events = [
      { type: "ADDED", object: { metadata: { name: "a", annotations: { note: "ünïcødé ✓ 🐳" } } } },
      { type: "MODIFIED", object: { metadata: { name: "b" }, data: { k: "x".repeat(40_000) } } },
      { type: "BOOKMARK", object: { metadata: { resourceVersion: "7" } } },
      { type: "DELETED", object: { metadata: { name: "c" } } },
    ];
    const bytes = Buffer.from(events.map((e) => JSON.stringify(e) + "\n").join("") + "\n");
    // Cut inside the whale emoji (4 bytes) and twice inside the long line; the last chunk
    // starts at the long line's newline and holds the last two events and an empty line.
    const whale = bytes.indexOf(Buffer.from("🐳")) + 2;
    const cuts = [0, 5, whale, whale + 1, 20_000, 30_000, bytes.indexOf("BOOKMARK") - 10, bytes.length];
    const chunks = cuts.slice(1).map((end, i) => bytes.subarray(cuts[i], end));
    expect(chunks.every((c) => c.length > 0)).toBe(true);
    expect(await watched(await serving(chunks))).toEqual(events);
  });

  it("drops nothing when the stream ends after the last newline, and ignores an unfinished line", async () => {
    const done = JSON.stringify({ type: "ADDED", object: { metadata: { name: "a" } } }) + "\n";
    const cut = '{"type":"ADDED","object":{"metadata":{"name":"half';
    expect(await watched(await serving([Buffer.from(done), Buffer.from(cut)]))).toEqual([
      { type: "ADDED", object: { metadata: { name: "a" } } },
    ]);
  });
});
