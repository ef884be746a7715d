// The provider contract, asked of every provider the same way: built through its definition
// (schema, then create), against an upstream on loopback that never answers or that fails.
// mint honours its signal, a failure is a ProviderError with a reason from the fixed set, and
// watch (where there is one) returns an unsubscribe.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAILURE_REASONS, ProviderError, type Provider } from "../../providers/contract.ts";
import { providerDefinitions } from "../../providers/index.ts";
import { createGhcrProvider } from "../../providers/ghcr/index.ts";
import { createIcrProvider } from "../../providers/icr/index.ts";
import { createAcrProvider, defaultAcrClients } from "../../providers/acr/index.ts";
import { createEcrProvider } from "../../providers/ecr/index.ts";
import { kubeClusterAccess } from "../../src/kube/cluster-access.ts";
import { buildProvider } from "../helpers/provider-kit.ts";
import { kubeConfigFor } from "../helpers/kubeconfig.ts";
import { googleEnv } from "./gcr/metadata-server.ts";

/** Accepts connections and never answers: only the signal ends a request to it. */
let silent: Server;
/** Answers every request 503. */
let failing: Server;
let dir: string;
const url = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;

beforeAll(async () => {
  silent = createServer(() => {});
  failing = createServer((_req, res) => {
    res.writeHead(503, { "content-type": "application/json" });
    res.end(JSON.stringify({ message: "unavailable" }));
  });
  await Promise.all([silent, failing].map((s) => new Promise<void>((r) => s.listen(0, "127.0.0.1", r))));
  dir = mkdtempSync(path.join(tmpdir(), "regcred-contract-"));
  for (const name of ["token", "key-id", "secret-key"])
    writeFileSync(path.join(dir, name), `${name}-value\n`);
});
afterAll(async () => {
  for (const s of [silent, failing]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A fetch that sends every request to `to`, keeping method, body and signal. */
const redirectFetch =
  (to: () => Server): typeof fetch =>
  (input, init) => {
    const target = new URL(input instanceof Request ? input.url : String(input));
    return fetch(`${url(to())}${target.pathname}`, { ...init, redirect: "manual" });
  };

const jwt = (claims: object) =>
  ["{}", JSON.stringify(claims)].map((p) => Buffer.from(p).toString("base64url")).join(".") + ".sig";

/** Each kind, built through its definition, talking to the given upstream. */
const builders: Record<string, (upstream: () => Server) => Provider> = {
  static: () =>
    buildProvider(
      providerDefinitions.find((d) => d.kind === "static")!,
      { registries: ["registry.example.com"], username: "u", passwordFrom: { file: "missing" } },
      { dir },
    ).provider,
  ghcr: (upstream) =>
    buildProvider(
      providerDefinitions.find((d) => d.kind === "ghcr")!,
      { username: "octo", tokenFrom: { file: "token" } },
      { dir, create: (s, ctx) => createGhcrProvider(s, ctx, { fetch: redirectFetch(upstream) }) },
    ).provider,
  icr: (upstream) =>
    buildProvider(
      providerDefinitions.find((d) => d.kind === "icr")!,
      { registries: ["us.icr.io"], apiKeyFrom: { file: "token" } },
      { dir, create: (s, ctx) => createIcrProvider(s, ctx, { fetch: redirectFetch(upstream) }) },
    ).provider,
  acr: (upstream) =>
    buildProvider(
      providerDefinitions.find((d) => d.kind === "acr")!,
      { registries: ["contoso.azurecr.io"], auth: "workloadIdentity", tenantId: "t", clientId: "c" },
      {
        dir,
        create: (s, ctx) =>
          createAcrProvider(s, ctx, {
            ...defaultAcrClients,
            credential: {
              getToken: async () => ({ token: jwt({ tid: "t" }), expiresOnTimestamp: Date.now() + 3e6 }),
            },
            exchangeUrl: () => `${url(upstream())}/oauth2/exchange`,
          }),
      },
    ).provider,
  ecr: (upstream) =>
    buildProvider(
      providerDefinitions.find((d) => d.kind === "ecr")!,
      {
        region: "eu-west-1",
        auth: { accessKeyIdFrom: { file: "key-id" }, secretAccessKeyFrom: { file: "secret-key" } },
      },
      {
        dir,
        create: (s, ctx) =>
          createEcrProvider(s, ctx, {
            ecr: (config) => new ECRClient({ ...config, endpoint: url(upstream()), maxAttempts: 1 }),
          }),
      },
    ).provider,
  gcr: () =>
    buildProvider(
      providerDefinitions.find((d) => d.kind === "gcr")!,
      {
        registries: ["gcr.io"],
        metadataServer: true,
      },
    ).provider,
  mirror: (upstream) =>
    buildProvider(
      providerDefinitions.find((d) => d.kind === "mirror")!,
      { source: { namespace: "shared", name: "src" } },
      { cluster: kubeClusterAccess(kubeConfigFor(upstream())) },
    ).provider,
};

/** gcr finds its metadata server through the environment, as google-auth-library does. */
async function withUpstream<T>(kind: string, server: Server, run: () => Promise<T>): Promise<T> {
  if (kind !== "gcr") return run();
  const restore = googleEnv({
    GCE_METADATA_HOST: url(server).slice("http://".length),
    METADATA_SERVER_DETECTION: "assume-present",
  });
  try {
    return await run();
  } finally {
    restore();
  }
}

const settle = (p: Promise<unknown>) =>
  p.then(
    () => ({ ok: true as const }),
    (err: unknown) => ({ ok: false as const, err }),
  );

const peek = async (p: Promise<unknown>, settled: boolean) =>
  settled ? String(((await p) as { err?: unknown }).err) : "pending";

describe("the provider contract, for every provider", () => {
  it("covers every registered kind", () => {
    expect(Object.keys(builders).sort()).toEqual(providerDefinitions.map((d) => d.kind).sort());
  });

  describe.each(Object.keys(builders))("%s", (kind) => {
    it("mint honours its signal: an abort ends a mint the upstream never answers", async () => {
      await withUpstream(kind, silent, async () => {
        const controller = new AbortController();
        let settled = false;
        const minting = settle(builders[kind]!(() => silent).mint(controller.signal)).then((o) => {
          settled = true;
          return o;
        });
        await new Promise((r) => setTimeout(r, 300));
        // static has no upstream to wait for; every other kind must still be waiting on it.
        if (kind !== "static")
          expect(settled, `settled before the abort: ${JSON.stringify(await peek(minting, settled))}`).toBe(
            false,
          );
        controller.abort(new DOMException("aborted by the test", "AbortError"));
        const outcome = await Promise.race([
          minting,
          new Promise<"hung">((r) => setTimeout(() => r("hung"), 2_000)),
        ]);
        expect(outcome, "mint still running 2 s after its signal aborted").not.toBe("hung");
      });
    });

    it("a failing upstream is a ProviderError with a reason from the fixed set", async () => {
      await withUpstream(kind, failing, async () => {
        const outcome = await settle(builders[kind]!(() => failing).mint(AbortSignal.timeout(10_000)));
        expect(outcome.ok).toBe(false);
        const err = (outcome as { err: unknown }).err;
        expect(err).toBeInstanceOf(ProviderError);
        expect(FAILURE_REASONS).toContain((err as ProviderError).reason);
      });
    });

    it("watch, where there is one, returns an unsubscribe", () => {
      const provider = builders[kind]!(() => silent);
      if (!provider.watch) return;
      const unsubscribe = provider.watch(() => {});
      expect(unsubscribe).toBeTypeOf("function");
      unsubscribe();
    });
  });
});
