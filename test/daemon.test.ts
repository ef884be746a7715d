// The daemon's leadership periods on a fake lock (the real Lease: test/integration/kube/), with
// the real directory writer behind a gate so a pass can be held open while leadership changes.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startDaemon, type Daemon } from "../src/daemon.ts";
import { Metrics } from "../src/observe/metrics.ts";
import { createDirSink } from "../src/output/dir-sink.ts";
import { staticNamespaces, type Sink } from "../src/engine/sink.ts";
import type { Provider } from "../providers/contract.ts";
import { configFrom } from "./helpers/config.ts";
import { FakeLock } from "./helpers/fake-lock.ts";
import { captureLogger } from "./helpers/log.ts";

const config = () =>
  configFrom(`
registries:
  - { name: quay, provider: static, registries: [quay.io], username: robot, passwordFrom: { env: UNUSED } }
secrets:
  - { name: pull, registries: [quay] }
kubernetes:
  leaderElection: { enabled: true, leaseDuration: 1s, renewDeadline: 400ms, retryPeriod: 100ms }
`);

const provider: Provider = {
  async mint() {
    return [{ registries: ["quay.io"], username: "robot", password: "pw-daemon-test", expiresAt: null }];
  },
};

let daemon: Daemon | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

function gatedSink() {
  const { log } = captureLogger();
  const dir = createDirSink(mkdtempSync(path.join(tmpdir(), "regcred-lead-")), {
    log,
    metrics: new Metrics(),
  });
  const passes: Array<AbortSignal | undefined> = [];
  let open: () => void = () => {};
  let gate: Promise<void> | null = null;
  const sink: Sink = {
    description: "a folder behind a gate",
    async apply(plan, signal) {
      passes.push(signal);
      await gate;
      return dir.apply(plan, signal);
    },
  };
  return {
    sink,
    passes,
    close: () => (gate = new Promise<void>((r) => (open = r))),
    open: () => open(),
  };
}

describe("daemon leadership", () => {
  it("fences each pass by leadership: a lost lease aborts the pass in flight and no pass starts until leading again", async () => {
    const lock = new FakeLock();
    const gated = gatedSink();
    const { log } = captureLogger();
    daemon = await startDaemon({
      config: config(),
      log,
      metrics: new Metrics(),
      sink: gated.sink,
      namespaces: staticNamespaces(["team-a"]),
      providers: { quay: provider },
      lock,
      identity: "me",
    });
    await vi.waitFor(() => expect(gated.passes).toHaveLength(1), { timeout: 5_000, interval: 10 });
    const first = gated.passes[0]!;
    expect(first).toBeInstanceOf(AbortSignal);
    expect(first.aborted).toBe(false);
    await daemon.sync.idle();

    // A pass held open; meanwhile another process takes the lock.
    gated.close();
    const sync = daemon.sync;
    sync.trigger();
    await vi.waitFor(() => expect(gated.passes).toHaveLength(2), { timeout: 2_000, interval: 5 });
    lock.takeBy("intruder", 1);
    await vi.waitFor(() => expect(first.aborted).toBe(true), { timeout: 2_000, interval: 5 });
    expect(daemon.isLeader()).toBe(false);
    // Triggers while not leading start nothing.
    sync.trigger();
    gated.open();
    await sync.idle();
    expect(gated.passes).toHaveLength(2);

    // The intruder's 1 s lease runs out: leading again, with a new, live fence.
    await vi.waitFor(() => expect(gated.passes).toHaveLength(3), { timeout: 5_000, interval: 20 });
    expect(gated.passes[2]).not.toBe(first);
    expect(gated.passes[2]!.aborted).toBe(false);
    expect(daemon.isLeader()).toBe(true);
    expect(lock.record!.holderIdentity).toBe("me");
  });

  it("leadership lost again before work started: no work starts", async () => {
    const lock = new FakeLock();
    const gated = gatedSink();
    const { log } = captureLogger();
    // Slow seeding holds the start of work open while the lease changes hands.
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    gated.sink.lastGood = async () => {
      await held;
      return new Map();
    };
    daemon = await startDaemon({
      config: config(),
      log,
      metrics: new Metrics(),
      sink: gated.sink,
      namespaces: staticNamespaces(["team-a"]),
      providers: { quay: provider },
      lock,
      identity: "me",
    });
    await vi.waitFor(() => expect(lock.record?.holderIdentity).toBe("me"), { timeout: 2_000, interval: 5 });
    lock.takeBy("intruder", 3600);
    await vi.waitFor(() => expect(daemon!.isLeader()).toBe(false), { timeout: 2_000, interval: 5 });
    await new Promise((r) => setTimeout(r, 300));
    release();
    await new Promise((r) => setTimeout(r, 300));
    expect(gated.passes).toEqual([]);
    expect(daemon.isLeader()).toBe(false);
  });
});
