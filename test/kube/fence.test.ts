// The write fence: requests made inside a fenced pass are refused once leadership ends, and
// the check registered with the signal runs before each one.
import { describe, expect, it } from "vitest";
import {
  fenced,
  fenceDown,
  guardSignal,
  LeadershipLost,
  requestSignal,
  requestDeadline,
} from "../../src/kube/fence.ts";
import { isRetryable } from "../../src/kube/client.ts";

describe("fence", () => {
  it("outside a fenced pass nothing is refused", () => {
    expect(requestSignal()).toBeUndefined();
    expect(fenceDown()).toBe(false);
    expect(requestDeadline(1_000).signal.aborted).toBe(false);
  });

  it("refuses every request after the signal aborts, across awaits and timers, and never retries", async () => {
    const leading = new AbortController();
    const seen: string[] = [];
    await fenced(leading.signal, async () => {
      expect(requestSignal()).toBe(leading.signal);
      await new Promise((r) => setTimeout(r, 1));
      leading.abort(new LeadershipLost());
      await new Promise((r) => setTimeout(r, 1));
      try {
        requestSignal();
      } catch (err) {
        seen.push((err as Error).name);
        expect(isRetryable(err)).toBe(false);
      }
      expect(fenceDown()).toBe(true);
    });
    expect(seen).toEqual(["LeadershipLost"]);
    // The fence is the pass's, not the process's.
    expect(fenceDown()).toBe(false);
  });

  it("aborts a request in flight when leadership ends", async () => {
    const leading = new AbortController();
    await fenced(leading.signal, async () => {
      const { signal } = requestDeadline(60_000);
      expect(signal.aborted).toBe(false);
      leading.abort(new LeadershipLost());
      expect(signal.aborted).toBe(true);
      expect(signal.reason).toBeInstanceOf(LeadershipLost);
    });
  });

  it("runs the registered check before each request; a check that aborts refuses that very request", async () => {
    const leading = new AbortController();
    let checks = 0;
    let deadlinePassed = false;
    guardSignal(leading.signal, () => {
      checks++;
      if (deadlinePassed) leading.abort(new LeadershipLost());
    });
    await fenced(leading.signal, async () => {
      requestSignal();
      deadlinePassed = true;
      expect(() => requestSignal()).toThrow(LeadershipLost);
    });
    expect(checks).toBe(2);
  });
});

describe("requestDeadline", () => {
  it("aborts with a TimeoutError when the time is up, and with the caller's reason when the caller aborts", async () => {
    const timed = requestDeadline(20);
    await new Promise((r) => setTimeout(r, 40));
    expect(timed.signal.aborted).toBe(true);
    expect((timed.signal.reason as Error).name).toBe("TimeoutError");

    const caller = new AbortController();
    const asked = requestDeadline(60_000, caller.signal);
    caller.abort(new Error("mint aborted"));
    expect((asked.signal.reason as Error).message).toBe("mint aborted");
    asked.done();
  });

  it("done() lets go: a finished request's signal is no longer tied to the fence, the caller or a timer", async () => {
    const leading = new AbortController();
    const caller = new AbortController();
    await fenced(leading.signal, async () => {
      const inFlight = requestDeadline(60_000, caller.signal);
      const finished = requestDeadline(30, caller.signal);
      finished.done();
      leading.abort(new LeadershipLost());
      caller.abort(new Error("late"));
      await new Promise((r) => setTimeout(r, 50));
      expect(inFlight.signal.reason).toBeInstanceOf(LeadershipLost);
      expect(finished.signal.aborted).toBe(false);
    });
  });
});

describe("fenceAtSocket", () => {
  it("a request made while leading but still waiting for a connection when leadership ends is never sent", async () => {
    const { createServer, Agent, request } = await import("node:http");
    const { fenceAtSocket } = await import("../../src/kube/fence.ts");
    const received: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const server = createServer((req, res) => {
      received.push(req.url!);
      if (req.url === "/first") void held.then(() => res.end("ok"));
      else res.end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    // One socket: the second request queues behind the first, past requestSignal()'s check.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<string>((resolve) => {
        const req = request({ host: "127.0.0.1", port, path, agent }, (res) => {
          res.resume();
          res.on("end", () => resolve("sent"));
        });
        req.on("error", (err) => resolve(err.name));
        fenceAtSocket(req);
        req.end();
      });
    const leading = new AbortController();
    let stillLeading = true;
    guardSignal(leading.signal, () => {
      if (!stillLeading) leading.abort(new LeadershipLost());
    });
    try {
      await fenced(leading.signal, async () => {
        const first = get("/first");
        await new Promise((r) => setTimeout(r, 50));
        const second = get("/second");
        await new Promise((r) => setTimeout(r, 50));
        // Leadership ends while /second waits; the elector's timer has not fired yet.
        stillLeading = false;
        release();
        expect(await first).toBe("sent");
        expect(await second).toBe("LeadershipLost");
      });
      expect(received).toEqual(["/first"]);
      // Outside a fenced pass the same agent sends as usual.
      expect(await get("/after")).toBe("sent");
      expect(received).toEqual(["/first", "/after"]);
    } finally {
      agent.destroy();
      server.close();
    }
  });
});
