// The sync loop's passes: full ones from every namespace, and a namespace's own, from the
// desired state of that namespace alone (what the Kubernetes sink applies in that scope).
import { afterEach, describe, expect, it, vi } from "vitest";
import { SyncLoop } from "../../src/engine/sync.ts";
import { Refresher } from "../../src/engine/refresher.ts";
import { DEFAULT_REFRESH } from "../../src/base/refresh.ts";
import type { Namespace, Plan } from "../../src/engine/plan.ts";
import type { NamespaceSource, Sink, SinkResult } from "../../src/engine/sink.ts";
import { emptyResult } from "../../src/engine/sink.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { captureLogger } from "../helpers/log.ts";
import { ScriptedProvider, ok } from "../helpers/fake-provider.ts";
import { target } from "../helpers/config.ts";

interface Call {
  scope: string[] | null;
  secrets: string[];
}

function fixture(options: { scoped?: boolean; fail?: (call: Call) => boolean } = {}) {
  const { log } = captureLogger();
  const namespaces = new Map<string, Record<string, string>>([
    ["a", { team: "x" }],
    ["b", { team: "x" }],
    ["c", { team: "y" }],
  ]);
  const source: NamespaceSource = {
    selective: true,
    list: () => [...namespaces].map(([name, labels]) => ({ name, labels })),
    get: (name): Namespace | undefined => {
      const labels = namespaces.get(name);
      return labels ? { name, labels } : undefined;
    },
    onChange: () => () => {},
  };
  const calls: Call[] = [];
  let release: (() => void) | null = null;
  const sink: Sink = {
    description: "test sink",
    ...(options.scoped === false ? {} : { scoped: true }),
    async apply(plan: Plan, _signal?: AbortSignal, scope?: ReadonlySet<string>): Promise<SinkResult> {
      const call = {
        scope: scope ? [...scope].sort() : null,
        secrets: plan.secrets.map((s) => `${s.namespace}/${s.name}`).sort(),
      };
      calls.push(call);
      if (release === null && hold) await new Promise<void>((r) => (release = r));
      return { ...emptyResult(), failed: options.fail?.(call) ? 1 : 0 };
    },
  };
  let hold = false;
  const refresher = new Refresher(
    [
      {
        name: "hub",
        kind: "test",
        policy: DEFAULT_REFRESH,
        provider: new ScriptedProvider([ok("pw", new Date(Date.now() + 3_600_000))]),
      },
    ],
    { log, metrics: new Metrics() },
  );
  const controller = new AbortController();
  const sync = new SyncLoop({
    targets: [
      target({
        name: "pull",
        registries: ["hub"],
        namespaces: { include: ["*"], exclude: [], selector: { matchLabels: { team: "x" } } },
      }),
    ],
    refresher,
    namespaces: source,
    sink,
    log,
    policy: { ...DEFAULT_REFRESH, retry: { initial: 1, max: 1 } },
    signal: controller.signal,
  });
  refresher.start();
  return {
    sync,
    calls,
    namespaces,
    controller,
    holdNext: () => (hold = true),
    release: () => {
      hold = false;
      const r = release as (() => void) | null;
      release = null;
      r?.();
    },
    async stop() {
      await sync.stop();
      await refresher.stop();
    },
  };
}

let stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of stops) await s();
  stops = [];
});
const setup = (o?: Parameters<typeof fixture>[0]) => {
  const f = fixture(o);
  stops.push(f.stop);
  return f;
};

describe("SyncLoop passes", () => {
  it("a full pass plans every namespace; a touched namespace is planned and applied alone", async () => {
    const f = setup();
    f.sync.trigger();
    await f.sync.idle();
    expect(f.calls).toEqual([{ scope: null, secrets: ["a/pull", "b/pull"] }]);

    f.namespaces.set("d", { team: "x" });
    f.sync.touch("d");
    await f.sync.idle();
    expect(f.calls[1]).toEqual({ scope: ["d"], secrets: ["d/pull"] });
    expect(f.calls).toHaveLength(2);
  });

  it("a namespace that stops matching or is gone is applied with nothing in it (its garbage goes)", async () => {
    const f = setup();
    f.sync.trigger();
    await f.sync.idle();
    f.namespaces.set("a", { team: "y" });
    f.namespaces.delete("b");
    f.sync.touch("a");
    f.sync.touch("b");
    await f.sync.idle();
    expect(f.calls.slice(1)).toEqual([{ scope: ["a", "b"], secrets: [] }]);
  });

  it("touches during a pass coalesce into one pass; a pending full pass covers them", async () => {
    const f = setup();
    f.sync.trigger();
    await f.sync.idle();
    f.holdNext();
    f.sync.touch("a");
    await vi.waitFor(() => expect(f.calls).toHaveLength(2));
    f.sync.touch("b");
    f.sync.touch("c");
    f.release();
    await f.sync.idle();
    expect(f.calls.slice(1)).toEqual([
      { scope: ["a"], secrets: ["a/pull"] },
      { scope: ["b", "c"], secrets: ["b/pull"] },
    ]);

    f.holdNext();
    f.sync.touch("a");
    await vi.waitFor(() => expect(f.calls).toHaveLength(4));
    f.sync.touch("b");
    f.sync.trigger();
    f.release();
    await f.sync.idle();
    expect(f.calls.slice(4)).toEqual([{ scope: null, secrets: ["a/pull", "b/pull"] }]);
  });

  it("a failed namespace pass is retried for that namespace", async () => {
    let failures = 1;
    const f = setup({ fail: (call) => call.scope !== null && failures-- > 0 });
    f.sync.trigger();
    await f.sync.idle();
    f.sync.touch("b");
    await vi.waitFor(() => expect(f.calls).toHaveLength(3));
    await f.sync.idle();
    expect(f.calls.slice(1)).toEqual([
      { scope: ["b"], secrets: ["b/pull"] },
      { scope: ["b"], secrets: ["b/pull"] },
    ]);
  });

  it("a sink that cannot scope gets a full pass for a touch", async () => {
    const f = setup({ scoped: false });
    f.sync.trigger();
    await f.sync.idle();
    f.sync.touch("a");
    await f.sync.idle();
    expect(f.calls.map((c) => c.scope)).toEqual([null, null]);
  });

  it("once leadership is gone, a touch writes nothing", async () => {
    const f = setup();
    f.sync.trigger();
    await f.sync.idle();
    f.controller.abort();
    f.sync.touch("a");
    f.sync.trigger();
    await f.sync.idle();
    expect(f.calls).toHaveLength(1);
  });
});
