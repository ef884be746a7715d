import { expect } from "vitest";
import { createGcrProvider } from "../../../providers/gcr/index.ts";
import { gcrSchema } from "../../../providers/gcr/schema.ts";
import { ProviderError, type Provider } from "../../../providers/contract.ts";
import { createSecretReader } from "../../../src/config/secret-reader.ts";
import { DEFAULT_REFRESH, type RefreshPolicy } from "../../../src/base/refresh.ts";
import { Refresher } from "../../../src/engine/refresher.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { captureLogger } from "../../helpers/log.ts";

export const HOSTS = ["gcr.io", "europe-docker.pkg.dev", "us-central1-docker.pkg.dev"];

/** A gcr provider from config as a user writes it (parsed by the real schema), logging into `lines`. */
export function gcr(settings: Record<string, unknown>, dir = "/") {
  const parsed = gcrSchema.parse({ name: "gcr", provider: "gcr", registries: HOSTS, ...settings });
  const { log, lines } = captureLogger();
  return { provider: createGcrProvider(parsed, { log, secrets: createSecretReader(dir) }), lines };
}

/** The provider under the real Refresher, jitter pinned to its midpoint (no spread). */
export function underRefresher(provider: Provider, policy: Partial<RefreshPolicy> = {}) {
  const { log, lines } = captureLogger();
  const refresher = new Refresher(
    [{ name: "gcr", kind: "gcr", policy: { ...DEFAULT_REFRESH, ...policy }, provider }],
    {
      log,
      metrics: new Metrics(),
      random: () => 0.5,
    },
  );
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
