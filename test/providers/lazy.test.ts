import { describe, expect, it } from "vitest";
import * as z from "../../src/base/zod.ts";
import { lazyProvider } from "../../providers/lazy.ts";
import type { Provider, ProviderContext, ProviderDefinition } from "../../providers/contract.ts";
import { captureLogger } from "../helpers/log.ts";

type Settings = { name: string; provider: "fake"; value: string };
const schema = z.object({ name: z.string(), provider: z.literal("fake"), value: z.string() });
const ctx = { log: captureLogger().log } as unknown as ProviderContext;
const settings: Settings = { name: "r", provider: "fake", value: "v" };

/** A definition behind a load the test releases by hand, recording what the real one was asked. */
function deferred() {
  const seen = { loads: 0, creates: 0, watches: 0, unwatches: 0 };
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const real: ProviderDefinition<Settings> = {
    kind: "fake",
    schema,
    create(s): Provider {
      seen.creates++;
      return {
        mint: async () => [
          { registries: ["r.example.com"], username: "u", password: s.value, expiresAt: null },
        ],
        watch: () => {
          seen.watches++;
          return () => void seen.unwatches++;
        },
      };
    },
  };
  const def = lazyProvider({ kind: "fake", schema }, async () => {
    seen.loads++;
    await gate;
    return real;
  });
  return { def, seen, release };
}

describe("lazyProvider", () => {
  it("loads nothing until a registry of its kind is created, then mints through the real provider", async () => {
    const { def, seen, release } = deferred();
    expect(def.kind).toBe("fake");
    expect(seen.loads).toBe(0);
    const provider = def.create(settings, ctx);
    expect(seen.loads).toBe(1);
    const minted = provider.mint(new AbortController().signal);
    release();
    expect((await minted)[0]!.password).toBe("v");
    await provider.mint(new AbortController().signal);
    expect(seen).toMatchObject({ loads: 1, creates: 1 });
  });

  it("watches the source once loaded, and not at all when stopped before", async () => {
    const { def, seen, release } = deferred();
    const early = def.create(settings, ctx).watch!(() => {});
    early();
    const provider = def.create(settings, ctx);
    const stop = provider.watch!(() => {});
    release();
    await provider.mint(new AbortController().signal);
    expect(seen.watches).toBe(1);
    stop();
    expect(seen.unwatches).toBe(1);
  });

  it("a failed import fails each mint, not the process", async () => {
    const def = lazyProvider<Settings>({ kind: "fake", schema }, () =>
      Promise.reject(new Error("chunk missing")),
    );
    const provider = def.create(settings, ctx);
    await expect(provider.mint(new AbortController().signal)).rejects.toThrow("chunk missing");
    await expect(provider.mint(new AbortController().signal)).rejects.toThrow("chunk missing");
  });
});
