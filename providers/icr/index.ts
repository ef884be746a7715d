import type { Credential, Provider, ProviderContext, ProviderDefinition } from "../contract.ts";
import { APIKEY_GRANT, CR_TOKEN_GRANT, requestIamToken, type Fetch } from "./iam.ts";
import { icrSchema, type IcrSettings } from "./schema.ts";

/** What IBM Cloud Container Registry expects as the username with an IAM access token. */
export const ICR_USERNAME = "iambearer";

/** The HTTP client and clock, injected so tests point them at a local IAM. */
export interface IcrClients {
  fetch?: Fetch;
  now?: () => number;
}

type Profile = NonNullable<IcrSettings["trustedProfile"]>;

function profileField(p: Profile): [string, string] {
  if (p.profileId !== undefined) return ["profile_id", p.profileId];
  if (p.profileCrn !== undefined) return ["profile_crn", p.profileCrn];
  return ["profile_name", p.profileName!];
}

/**
 * IBM Cloud Container Registry: one IAM access token per refresh (an hour, by IAM's own
 * `expiration`), written as user `iambearer` under every configured domain. The API key (or,
 * with a trusted profile, the pod's compute-resource token) stays with regcred; namespaces only
 * ever see the short-lived token. Secret material is re-read on every mint, so a rotated key or
 * the kubelet's rotated projected token is used at once.
 */
export function createIcrProvider(
  settings: IcrSettings,
  ctx: ProviderContext,
  clients: IcrClients = {},
): Provider {
  const fetch = clients.fetch ?? globalThis.fetch;
  const now = clients.now ?? Date.now;
  const profile = settings.trustedProfile;

  async function form(): Promise<{ describe: string; form: Record<string, string> }> {
    if (profile) {
      const [field, value] = profileField(profile);
      const crToken = await ctx.secrets.read({ file: profile.crTokenFile });
      return {
        describe: `trusted profile ${value}`,
        form: { grant_type: CR_TOKEN_GRANT, cr_token: crToken, [field]: value },
      };
    }
    const apikey = await ctx.secrets.read(settings.apiKeyFrom!);
    return { describe: "apikey", form: { grant_type: APIKEY_GRANT, apikey } };
  }

  return {
    async mint(signal): Promise<Credential[]> {
      const grant = await form();
      const minted = await requestIamToken({ endpoint: settings.iamEndpoint, ...grant, signal, fetch, now });
      ctx.log.debug({ expiresAt: minted.expiresAt.toISOString() }, "IAM access token minted");
      return [
        {
          registries: settings.registries,
          username: ICR_USERNAME,
          password: minted.token,
          expiresAt: minted.expiresAt,
        },
      ];
    },
    // The projected token is not watched: kubelet rotates it every ~48 min, and a new one only
    // matters at the next mint, which reads it afresh.
    watch: settings.apiKeyFrom ? (onChange) => ctx.secrets.watch(settings.apiKeyFrom!, onChange) : undefined,
  };
}

export const icrProvider: ProviderDefinition<IcrSettings> = {
  kind: "icr",
  schema: icrSchema,
  create: (settings, ctx) => createIcrProvider(settings, ctx),
};
