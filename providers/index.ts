import type { ProviderDefinition } from "./contract.ts";
import { staticProvider } from "./static/index.ts";
import { ghcrProvider } from "./ghcr/index.ts";
import { acrProvider } from "./acr/index.ts";
import { mirrorProvider } from "./mirror/index.ts";
import { icrProvider } from "./icr/index.ts";
import { lazyProvider } from "./lazy.ts";
import { ecrSchema } from "./ecr/schema.ts";
import { gcrSchema } from "./gcr/schema.ts";

/**
 * The provider table, keyed by the `provider:` value in the config. A new provider is a
 * folder with schema.ts + index.ts and one line here. Providers built on a cloud SDK are
 * listed by their schema and loaded when configured (lazy.ts); ACR imports its SDKs itself.
 */
export const providerDefinitions = [
  staticProvider,
  ghcrProvider,
  lazyProvider({ kind: "gcr", schema: gcrSchema }, async () => (await import("./gcr/index.ts")).gcrProvider),
  acrProvider,
  lazyProvider({ kind: "ecr", schema: ecrSchema }, async () => (await import("./ecr/index.ts")).ecrProvider),
  mirrorProvider,
  icrProvider,
] as const;

export type RegistrySettings =
  (typeof providerDefinitions)[number] extends ProviderDefinition<infer S> ? S : never;

export const providerKinds: readonly string[] = providerDefinitions.map((p) => p.kind);

export function providerFor(kind: string): ProviderDefinition<RegistrySettings> {
  const def = providerDefinitions.find((p) => p.kind === kind);
  if (!def) throw new Error(`unknown provider kind ${kind}`);
  return def as unknown as ProviderDefinition<RegistrySettings>;
}
