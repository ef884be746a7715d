// The write fence: requests made inside a fenced pass are refused once leadership ends, and
// the check registered with the signal runs before each one.
import { describe, expect, it } from "vitest";
import {
  fenced,
  fenceDown,
  guardSignal,
  LeadershipLost,
  requestSignal,
  requestTimeout,
} from "../../src/kube/fence.ts";
import { isRetryable } from "../../src/kube/client.ts";

describe("fence", () => {
  it("outside a fenced pass nothing is refused", () => {
    expect(requestSignal()).toBeUndefined();
    expect(fenceDown()).toBe(false);
    expect(requestTimeout(1_000).aborted).toBe(false);
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
      const signal = requestTimeout(60_000);
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
