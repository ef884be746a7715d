import { EventEmitter } from "node:events";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { runCommand } from "../../src/cli/commands.ts";
import { captureLogger } from "../helpers/log.ts";
import { writeRunConfig } from "./run-config.ts";

describe("regcred run: signals during shutdown", () => {
  // On `process`, a signal with no listener takes Node's default action: the process dies with
  // 143 in the middle of releasing its Lease. A second SIGTERM comes from a process group
  // signalled directly and through a wrapper, or from Ctrl-C pressed twice.
  it("keeps its handlers until the stop is done, so a second SIGTERM cannot kill the shutdown", async () => {
    const { dir, config } = writeRunConfig("signals-test-password");
    const signals = new EventEmitter();
    const { log, lines } = captureLogger("info");
    const exit = runCommand(
      { config, output: `dir:${path.join(dir, "out")}`, namespace: ["demo"] },
      { stdout: () => {}, stderr: () => {}, log },
      signals,
    );
    await vi.waitFor(() => expect(lines.join("")).toContain("regcred running"), { timeout: 10_000 });
    signals.emit("SIGTERM");
    // Stopping is under way (it awaits the daemon's stop): a second signal must still be heard.
    expect(signals.listenerCount("SIGTERM")).toBe(1);
    signals.emit("SIGTERM");
    expect(await exit).toBe(0);
    expect(lines.join("")).toContain("already shutting down");
    expect(signals.listenerCount("SIGTERM")).toBe(0);
    expect(signals.listenerCount("SIGINT")).toBe(0);
  });
});
