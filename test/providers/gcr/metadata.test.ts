import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { GCR_USERNAME } from "../../../providers/gcr/index.ts";
import { googleEnv, startMetadataServer, type MetadataServer } from "./metadata-server.ts";
import { gcr, HOSTS, mintFailure, signal, underRefresher } from "./harness.ts";

const S = 1_000;
let server: MetadataServer;
let restoreEnv: () => void;

beforeAll(async () => {
  server = await startMetadataServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.behave({ ok: { expiresIn: 3599 } });
  restoreEnv = googleEnv({
    GCE_METADATA_HOST: server.host,
    METADATA_SERVER_DETECTION: "assume-present",
    // An empty gcloud config folder: no well-known ADC file, no gcloud project.
    CLOUDSDK_CONFIG: mkdtempSync(path.join(tmpdir(), "regcred-gcloud-")),
  });
});
afterEach(() => restoreEnv());

describe("fake metadata server", () => {
  it("rejects a request without Metadata-Flavor: Google and marks its answers", async () => {
    const url = `http://${server.host}/computeMetadata/v1/instance/service-accounts/default/token`;
    const bare = await fetch(url);
    expect(bare.status).toBe(403);
    const flavoured = await fetch(url, { headers: { "Metadata-Flavor": "Google" } });
    expect(flavoured.status).toBe(200);
    expect(flavoured.headers.get("metadata-flavor")).toBe("Google");
    expect(await flavoured.json()).toMatchObject({ token_type: "Bearer", expires_in: 3599 });
  });
});

describe("gcr provider: metadata server (GKE Workload Identity)", () => {
  it("mints a token through google-auth-library, written under every host", async () => {
    const before = server.tokenRequests();
    const started = Date.now();
    const [credential, ...rest] = await gcr({ metadataServer: true }).provider.mint(signal());
    expect(rest).toEqual([]);
    expect(server.tokenRequests()).toBe(before + 1);
    const request = server.requests.at(-1)!;
    expect(request.flavor).toBe("Google");
    expect(request.query.get("scopes")).toBe("https://www.googleapis.com/auth/cloud-platform");
    expect(credential).toEqual({
      registries: HOSTS,
      username: GCR_USERNAME,
      password: server.issued.at(-1),
      expiresAt: expect.any(Date),
    });
    const lifetime = credential!.expiresAt!.getTime() - started;
    expect(lifetime).toBeGreaterThan(3590 * S);
    expect(lifetime).toBeLessThanOrEqual(3599 * S + 1_000);
  });

  it("asks the metadata server again on every mint (no cached token)", async () => {
    const { provider } = gcr({ metadataServer: true });
    const first = await provider.mint(signal());
    const second = await provider.mint(signal());
    expect(first[0]!.password).not.toBe(second[0]!.password);
    expect(second[0]!.password).toBe(server.issued.at(-1));
  });

  it("passes configured scopes to the metadata server", async () => {
    await gcr({
      metadataServer: true,
      scopes: [
        "https://www.googleapis.com/auth/devstorage.read_only",
        "https://www.googleapis.com/auth/cloud-platform.read-only",
      ],
    }).provider.mint(signal());
    expect(server.requests.at(-1)!.query.get("scopes")).toBe(
      "https://www.googleapis.com/auth/devstorage.read_only,https://www.googleapis.com/auth/cloud-platform.read-only",
    );
  });

  it("is what Application Default Credentials find when nothing else is configured", async () => {
    const before = server.requests.length;
    const [credential] = await gcr({}).provider.mint(signal());
    expect(credential!.password).toBe(server.issued.at(-1));
    const paths = server.requests.slice(before).map((r) => r.path);
    // ADC looks up the project (gcloud where installed, which takes a second or more, then the
    // metadata server), then takes the token.
    expect(paths).toContain("/computeMetadata/v1/project/project-id");
    expect(paths).toContain("/computeMetadata/v1/instance/service-accounts/default/token");
  }, 20_000);

  it("a token response without expires_in is invalid_response, not a guessed hour", async () => {
    server.behave({ ok: {} });
    const err = await mintFailure(gcr({ metadataServer: true }).provider);
    expect(err.reason).toBe("invalid_response");
    expect(err.message).toMatch(/no expiry/);
  });

  it("an answer without Metadata-Flavor: Google is refused (invalid_response)", async () => {
    server.behave({ flavorless: true });
    const err = await mintFailure(gcr({ metadataServer: true }).provider);
    expect(err.reason).toBe("invalid_response");
    expect(err.message).toMatch(/Metadata-Flavor/);
  });

  it("403 is access_denied, 404 is not_found, with the HTTP status in the message", async () => {
    server.behave({ status: 403, body: "The service account lacks the required scopes" });
    const denied = await mintFailure(gcr({ metadataServer: true }).provider);
    expect(denied.reason).toBe("access_denied");
    expect(denied.message).toMatch(/^token from metadata server: \[403\] .*required scopes/);

    server.behave({ status: 404, body: "Service account not found: default" });
    const missing = await mintFailure(gcr({ metadataServer: true }).provider);
    expect(missing.reason).toBe("not_found");
    expect(missing.message).toMatch(/\[404\].*Service account not found/);
  });

  it("an unreachable metadata server is a network failure", async () => {
    const gone = await startMetadataServer();
    const host = gone.host;
    await gone.close();
    process.env.GCE_METADATA_HOST = host;
    const err = await mintFailure(gcr({ metadataServer: true }).provider);
    expect(err.reason).toBe("network");
    expect(err.message).toMatch(/ECONNREFUSED/);
  }, 20_000);
});

describe("gcr provider under the Refresher", () => {
  it("honours a 5-minute token: refresh scheduled well before it expires", async () => {
    server.behave({ ok: { expiresIn: 300 } });
    const { provider } = gcr({ metadataServer: true });
    const { refresher } = underRefresher(provider);
    refresher.start();
    await refresher.settled();
    const [status] = refresher.status();
    await refresher.stop();
    expect(status!.state).toBe("ok");
    const minted = status!.lastSuccess!.getTime();
    const lifetime = status!.expiresAt!.getTime() - minted;
    expect(lifetime).toBeGreaterThan(295 * S);
    expect(lifetime).toBeLessThanOrEqual(300 * S + 1_000);
    // Default policy: margin 5m swallows the whole lifetime, so the 1m floor decides.
    const next = status!.nextRefreshAt!.getTime();
    expect(next - minted).toBeGreaterThanOrEqual(59 * S);
    expect(next - minted).toBeLessThanOrEqual(61 * S);
    expect(status!.expiresAt!.getTime() - next).toBeGreaterThan(3 * 60 * S);
  });

  it("with a 1m margin, the same token is refreshed at half its lifetime", async () => {
    server.behave({ ok: { expiresIn: 300 } });
    const { refresher } = underRefresher(gcr({ metadataServer: true }).provider, { margin: 60 * S });
    refresher.start();
    await refresher.settled();
    const [status] = refresher.status();
    await refresher.stop();
    const half = (status!.expiresAt!.getTime() - status!.lastSuccess!.getTime()) / 2;
    expect(Math.abs(status!.nextRefreshAt!.getTime() - status!.lastSuccess!.getTime() - half)).toBeLessThan(
      2 * S,
    );
    expect(half).toBeLessThan(151 * S);
  });

  for (const [status, reason] of [
    [403, "access_denied"],
    [404, "not_found"],
  ] as const) {
    it(`a ${status} after a good mint: ${reason}, last good kept, no hot loop, no token in logs`, async () => {
      const { provider, lines: providerLines } = gcr({ metadataServer: true });
      const retry = { initial: 5 * S, max: 60 * S };
      const { refresher, lines } = underRefresher(provider, { retry });
      refresher.start();
      await refresher.settled();
      const good = server.issued.at(-1)!;
      expect(refresher.credentials().get("gcr")![0]!.password).toBe(good);

      server.behave({ status, body: status === 403 ? "Forbidden" : "Not Found" });
      await refresher.refresh("gcr");
      const requestsAfterFailure = server.tokenRequests();

      expect(refresher.credentials().get("gcr")![0]!.password).toBe(good);
      const [st] = refresher.status();
      expect(st!.state).toBe("failing");
      expect(st!.usable).toBe(true);
      expect(st!.lastError!.reason).toBe(reason);
      expect(st!.consecutiveFailures).toBe(1);
      // Backoff, not a hot loop: the next try is retry.initial away, and none happens meanwhile.
      expect(st!.nextRefreshAt!.getTime() - st!.lastAttempt!.getTime()).toBeGreaterThanOrEqual(retry.initial);
      await new Promise((r) => setTimeout(r, 750));
      expect(server.tokenRequests()).toBe(requestsAfterFailure);
      await refresher.stop();

      const logged = [...lines, ...providerLines].join("\n");
      expect(logged).toContain(`refresh of gcr failed (${reason})`);
      expect(logged).toContain("keeping last good credential");
      for (const token of server.issued) expect(logged).not.toContain(token);
    });
  }
});
