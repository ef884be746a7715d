import { afterEach, describe, expect, it, vi } from "vitest";
import type { Refresher } from "../../../src/engine/refresher.ts";
import { DEFAULT_REFRESH } from "../../../src/base/refresh.ts";
import { underRefresher } from "../../helpers/provider-kit.ts";
import type { Provider } from "../../../providers/contract.ts";
import { captureLogger } from "../../helpers/log.ts";
import { FakeSource, b64, mirror, pullSecret } from "./fake-source.ts";

const policy = { ...DEFAULT_REFRESH, jitter: 0, retry: { initial: 60_000, max: 300_000 } };
let refresher: Refresher | undefined;

function run(provider: Provider) {
  const changes: string[] = [];
  const built = underRefresher(provider, {
    name: "mirrored",
    kind: "mirror",
    policy,
    capture: captureLogger("debug"),
    deps: { random: Math.random, onChange: (r) => changes.push(r) },
  });
  refresher = built.refresher;
  refresher.start();
  return { refresher, lines: built.lines, changes };
}

afterEach(async () => {
  await refresher?.stop();
  refresher = undefined;
});

const secretWith = (password: string, annotations?: Record<string, string>) =>
  pullSecret({ "quay.io": { auth: b64(`robot:${password}`) } }, annotations ? { annotations } : {});

describe("mirror under the real Refresher", () => {
  it("a change of the source is minted at once through watch, with nothing scheduled meanwhile", async () => {
    const fake = new FakeSource();
    fake.secret = secretWith("mirror-pass-one");
    const { refresher: r, changes } = run(mirror(fake));
    await r.settled();
    expect(r.credentials().get("mirrored")![0]!.password).toBe("mirror-pass-one");
    // Does not expire: no timer, the watch is what drives it.
    expect(r.status()[0]!.nextRefreshAt).toBeNull();
    fake.list();
    fake.change(secretWith("mirror-pass-two"));
    await vi.waitFor(() => expect(r.credentials().get("mirrored")![0]!.password).toBe("mirror-pass-two"));
    expect(changes).toEqual(["mirrored", "mirrored"]);
  });

  it("an expiry annotation on the source is honoured: refresh well before it", async () => {
    const fake = new FakeSource();
    const expires = new Date(Date.now() + 5 * 60_000);
    fake.secret = secretWith("mirror-pass-dated", { "regcred.io/expires-at": expires.toISOString() });
    const { refresher: r } = run(mirror(fake));
    await r.settled();
    const next = r.status()[0]!.nextRefreshAt!.getTime();
    expect(next).toBeLessThan(expires.getTime() - 60_000);
    expect(r.status()[0]!.expiresAt).toEqual(expires);
  });

  it("a deleted source keeps the last good auths and reports not_found; re-creating it recovers", async () => {
    const fake = new FakeSource();
    fake.secret = secretWith("mirror-pass-kept");
    const { refresher: r, lines } = run(mirror(fake));
    await r.settled();
    fake.list();
    fake.change(null);
    await vi.waitFor(() => expect(r.status()[0]!.lastError?.reason).toBe("not_found"));
    const failing = r.status()[0]!;
    expect(failing.state).toBe("failing");
    expect(failing.usable).toBe(true);
    expect(failing.nextRefreshAt).not.toBeNull(); // retried with backoff
    expect(r.credentials().get("mirrored")![0]!.password).toBe("mirror-pass-kept");
    fake.change(secretWith("mirror-pass-back"));
    await vi.waitFor(() => expect(r.status()[0]!.state).toBe("ok"));
    expect(r.credentials().get("mirrored")![0]!.password).toBe("mirror-pass-back");
    const log = lines.join("");
    expect(log).toContain("refresh of mirrored failed (not_found)");
    for (const value of ["mirror-pass-kept", "mirror-pass-back", b64("robot:mirror-pass-kept")]) {
      expect(log).not.toContain(value);
    }
  });

  it("stop() ends the watch", async () => {
    const fake = new FakeSource();
    fake.secret = secretWith("mirror-pass-stop");
    const { refresher: r } = run(mirror(fake));
    await r.settled();
    expect(fake.watchers).toBe(1);
    await r.stop();
    expect(fake.watchers).toBe(0);
  });
});
