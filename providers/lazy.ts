import type { MintHint, Provider, ProviderContext, ProviderDefinition } from "./contract.ts";

/**
 * A provider definition whose implementation, and the cloud SDK it imports, is loaded only when
 * a registry of its kind is configured: the config's schema needs `schema` (light: zod only),
 * while the AWS or Google SDK costs megabytes of code and heap that a cluster using neither
 * should not carry. `create()` stays synchronous: it starts the import and returns a provider
 * that waits for it. The bundle (scripts/bundle.ts) puts each such import in a chunk of its own.
 */
export function lazyProvider<S extends { name: string; provider: string }>(
  head: Omit<ProviderDefinition<S>, "create">,
  load: () => Promise<ProviderDefinition<S>>,
): ProviderDefinition<S> {
  return {
    ...head,
    create(settings: S, ctx: ProviderContext): Provider {
      const real = load().then((definition) => definition.create(settings, ctx));
      // Seen by every mint (a failed import fails each refresh, reported as any failure is);
      // not an unhandled rejection meanwhile.
      real.catch(() => {});
      return {
        mint: async (signal: AbortSignal, hint?: MintHint) => (await real).mint(signal, hint),
        // The source's watch starts once the implementation is in (the first mint waits for the
        // same import, so it reads the source no earlier than the watch sees its changes).
        watch(onChange: () => void) {
          let stop: (() => void) | undefined;
          let stopped = false;
          real.then(
            (p) => {
              if (!stopped) stop = p.watch?.(onChange);
            },
            () => {},
          );
          return () => {
            stopped = true;
            stop?.();
          };
        },
      };
    },
  };
}
