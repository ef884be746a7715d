// Watches on the real API server, counted on the wire: regcred asks for bookmarks, resumes
// every watch from the newest resourceVersion it has seen (bookmarks included), and lists again
// only when the server says that version is gone. A quiet watch (no Secret of that name
// changes) while the API server's watch cache moves on is where resuming from an old version
// used to end in 410 and a relist. A cluster of its own: its watch cache starts small and
// empty, so how much churn pushes an old version out of it is known.
import { CoreV1Api, type V1Secret } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startCluster, type Cluster } from "../../rig/cluster.ts";
import { listInPages, watchedCache, type WatchedCache } from "../../../src/kube/informer.ts";
import { captureLogger } from "../../helpers/log.ts";
import { CountingProxy } from "./counting-proxy.ts";

const NAME = "quiet-pull";

describe("watches resume from bookmarks and relist only on 410", () => {
  let cluster: Cluster;
  let proxy: CountingProxy;
  let cache: WatchedCache<V1Secret>;
  let admin: CoreV1Api;

  beforeAll(async () => {
    cluster = await startCluster({ controllerManager: false });
    admin = cluster.kubeConfig().makeApiClient(CoreV1Api);
    await admin.createNamespace({ body: { metadata: { name: "churn" } } });
    await admin.createNamespace({ body: { metadata: { name: "team" } } });
    proxy = await CountingProxy.start(cluster);
    const kc = proxy.kubeConfig(cluster.adminToken);
    const core = kc.makeApiClient(CoreV1Api);
    const { log } = captureLogger("info");
    cache = watchedCache<V1Secret>(
      kc,
      `secrets named ${NAME}`,
      "/api/v1/secrets",
      () =>
        listInPages((cont) =>
          core.listSecretForAllNamespaces({
            fieldSelector: `metadata.name=${NAME}`,
            limit: 250,
            _continue: cont,
          }),
        ),
      // Short watches, so the test sees several reconnects in a minute and a half.
      { log, fieldSelector: `metadata.name=${NAME}`, watchTimeoutSeconds: () => 12 },
    );
    await cache.synced();
  }, 300_000);

  afterAll(async () => {
    await cache?.stop();
    await proxy?.stop();
    await cluster?.stop();
  });

  /** One Secret write elsewhere: moves the Secrets watch cache on without touching NAME. */
  const churn = async (n: number, round: number) => {
    for (let i = 0; i < n; i++) {
      const name = `churn-${i}`;
      const body = { metadata: { name }, stringData: { round: String(round) } };
      if (round === 0) await admin.createNamespacedSecret({ namespace: "churn", body });
      else await admin.replaceNamespacedSecret({ namespace: "churn", name, body });
    }
  };

  /** Whether the API server has forgotten resourceVersion rv for Secret watches (410). */
  const expired = async (rv: string) => {
    const r = await cluster.rawGet(
      `/api/v1/secrets?watch=true&resourceVersion=${rv}&timeoutSeconds=1&fieldSelector=metadata.name%3D${NAME}`,
    );
    return r.body.includes('"code":410');
  };

  it("keeps one list while the version it listed at is pushed out of the watch cache", async () => {
    const listRv = (await admin.listSecretForAllNamespaces({ fieldSelector: `metadata.name=${NAME}` }))
      .metadata!.resourceVersion!;
    // The watch cache keeps at least 75 s of events (and at least 100): write past both.
    await churn(150, 0);
    let round = 1;
    await vi.waitFor(
      async () => {
        await churn(150, round++);
        expect(await expired(listRv)).toBe(true);
      },
      { timeout: 200_000, interval: 15_000 },
    );
    // Give the cache's watch two more reconnects after the old version became unusable.
    const before = proxy.watches("/api/v1/secrets").length;
    await vi.waitFor(
      () => expect(proxy.watches("/api/v1/secrets").length).toBeGreaterThanOrEqual(before + 2),
      {
        timeout: 75_000,
        interval: 500,
      },
    );

    const watches = proxy.watches("/api/v1/secrets");
    const lists = proxy.lists("/api/v1/secrets");
    console.log(
      `secrets named ${NAME}: ${lists.length} list(s), ${watches.length} watch request(s), ` +
        `${watches.flatMap((w) => w.events).filter((e) => e.type === "BOOKMARK").length} bookmarks`,
    );
    // No relist: the list at the start is the only one.
    expect(lists).toHaveLength(1);
    expect(watches.flatMap((w) => w.events).filter((e) => e.code === 410)).toEqual([]);
    for (const w of watches) expect(w.query.get("allowWatchBookmarks")).toBe("true");
    // Each watch started where the previous one left off: its last event, bookmarks included.
    for (let i = 1; i < watches.length; i++) {
      const last = watches[i - 1]!.events.at(-1)?.resourceVersion;
      if (last) expect(watches[i]!.query.get("resourceVersion")).toBe(last);
    }
    expect(watches.flatMap((w) => w.events).some((e) => e.type === "BOOKMARK")).toBe(true);
  }, 300_000);

  it("still sees a change after all that, and lists again only when told the version is gone", async () => {
    await admin.createNamespacedSecret({
      namespace: "team",
      body: { metadata: { name: NAME }, stringData: { a: "b" } },
    });
    await vi.waitFor(() => expect(cache.get(NAME, "team")).toBeDefined(), { timeout: 20_000, interval: 100 });
    // An API server restart forgets every watch: the next watch from the old version is
    // answered 410 (real, from the restarted server) and only then does the cache list again.
    await cluster.restartApiserver();
    await churn(5, 99);
    await vi.waitFor(() => expect(proxy.lists("/api/v1/secrets").length).toBeGreaterThanOrEqual(1), {
      timeout: 60_000,
    });
    await admin.deleteNamespacedSecret({ namespace: "team", name: NAME });
    await vi.waitFor(() => expect(cache.get(NAME, "team")).toBeUndefined(), {
      timeout: 60_000,
      interval: 100,
    });
    const lists = proxy.lists("/api/v1/secrets").length;
    const gone = proxy
      .watches("/api/v1/secrets")
      .filter((w) => w.status === 410 || w.events.some((e) => e.code === 410));
    // Every list after the first follows a 410.
    expect(lists - 1).toBeLessThanOrEqual(gone.length);
  }, 180_000);
});
