import { expect } from "vitest";
import { gcrProvider } from "../../../providers/gcr/index.ts";
import { ProviderError, type Provider } from "../../../providers/contract.ts";
import type { RefreshPolicy } from "../../../src/base/refresh.ts";
import { buildProvider, underRefresher as underRealRefresher } from "../../helpers/provider-kit.ts";

export const HOSTS = ["gcr.io", "europe-docker.pkg.dev", "us-central1-docker.pkg.dev"];

/** A gcr provider from config as a user writes it (parsed by the real schema), logging into `lines`. */
export function gcr(settings: Record<string, unknown>, dir = "/") {
  const { provider, lines } = buildProvider(
    gcrProvider,
    { registries: HOSTS, ...settings },
    { dir, env: process.env },
  );
  return { provider, lines };
}

/** The provider under the real Refresher, jitter pinned to its midpoint (no spread). */
export function underRefresher(provider: Provider, policy: Partial<RefreshPolicy> = {}) {
  const { refresher, lines } = underRealRefresher(provider, { kind: "gcr", policy });
  return { refresher, lines };
}

export const signal = () => AbortSignal.timeout(10_000);

/** Mints once, expecting a classified failure. */
export async function mintFailure(provider: Provider): Promise<ProviderError> {
  const err = await provider.mint(signal()).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}
