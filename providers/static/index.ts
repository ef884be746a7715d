import type { Credential, Provider, ProviderContext, ProviderDefinition } from "../contract.ts";
import { staticSchema, type StaticSettings } from "./schema.ts";

/**
 * Basic credentials for any registry (Docker Hub, IBM icr.io API keys, Quay, self-hosted).
 * Re-read on every mint and whenever the mounted file changes, so a rotated password is
 * written out without a restart.
 */
export function createStaticProvider(settings: StaticSettings, ctx: ProviderContext): Provider {
  const expiresAt = settings.expiresAt ? new Date(settings.expiresAt) : null;
  return {
    async mint(): Promise<Credential[]> {
      const username = settings.usernameFrom
        ? await ctx.secrets.read(settings.usernameFrom)
        : settings.username!;
      const password = await ctx.secrets.read(settings.passwordFrom);
      return [{ registries: settings.registries, username, password, expiresAt }];
    },
    watch(onChange) {
      const stops = [settings.passwordFrom, settings.usernameFrom]
        .filter((ref) => ref !== undefined)
        .map((ref) => ctx.secrets.watch(ref, onChange));
      return () => stops.forEach((stop) => stop());
    },
  };
}

export const staticProvider: ProviderDefinition<StaticSettings> = {
  kind: "static",
  schema: staticSchema,
  create: createStaticProvider,
};
