// A stateful stand-in for the two ARM operations of the scoped-token mode, behind nock so the
// real @azure/arm-containerregistry client talks to it over https. It keeps what ARM keeps for
// an ACR token: two password slots, each with a value, creation time and expiry. Like ARM, the
// token read never returns password values, and generateCredentials replaces the slot it names
// (the old value of that slot stops working at once). accepts() is the registry's side: a
// docker login with the token name and a password is good while that password is in a slot and
// not expired.
import { nock } from "../../helpers/nock.ts";
import { randomBytes } from "node:crypto";
import type { AccessToken, TokenCredential } from "@azure/identity";
import type { Logger } from "pino";
import { acrSchema } from "../../../providers/acr/schema.ts";
import { createAcrProvider } from "../../../providers/acr/index.ts";
import type { Provider } from "../../../providers/contract.ts";
import { createSecretReader } from "../../../src/config/secret-reader.ts";
import { captureLog } from "./harness.ts";

export const SUB = "0b1f6471-1bf0-4dda-aec3-111122223333";
export const RG = "rg-images";
export const TOKEN = "regcred-pull";
export const REGISTRY = "prodreg";
export const API = "2025-11-01"; // @azure/arm-containerregistry 12.0.0's api-version
const ARM = "https://management.azure.com";

export type SlotName = "password1" | "password2";
export interface SlotState {
  value: string;
  creationTime: number;
  /** ms since epoch; null: never expires. */
  expiry: number | null;
}

const registryPath = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerRegistry/registries/${REGISTRY}`;
export const tokenId = `${registryPath}/tokens/${TOKEN}`;

export class FakeArmToken {
  readonly slots = new Map<SlotName, SlotState>();
  /** Slot names generateCredentials was asked for, in order. */
  readonly generated: SlotName[] = [];
  /** Called after a slot was replaced, before ARM answers (e.g. to abort the caller). */
  onGenerate: ((slot: SlotName) => void) | null = null;
  status: "enabled" | "disabled" = "enabled";
  /** How long ARM takes to answer generateCredentials after it replaced the slot. */
  answerDelayMs = 0;
  private scope: nock.Scope | null = null;

  constructor(readonly clock: () => number) {}

  install(): this {
    const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString());
    this.scope = nock(ARM)
      .persist()
      .get(`${registryPath}/tokens/${TOKEN}`)
      .query({ "api-version": API })
      .reply(() => [
        200,
        {
          id: tokenId,
          name: TOKEN,
          type: "Microsoft.ContainerRegistry/registries/tokens",
          properties: {
            provisioningState: "Succeeded",
            scopeMapId: `${registryPath}/scopeMaps/pull-app`,
            status: this.status,
            credentials: {
              certificates: [],
              // ARM lists the slots with their dates, never their values.
              passwords: [...this.slots].map(([name, s]) => ({
                name,
                creationTime: iso(s.creationTime),
                expiry: iso(s.expiry),
              })),
            },
          },
        },
      ])
      .post(`${registryPath}/generateCredentials`)
      .query({ "api-version": API })
      // nock 15 hands a reply function the fetch Request.
      .reply(async (request: Request) => {
        const req = (await request.json()) as { tokenId?: string; expiry?: string; name?: string };
        if (req.tokenId !== tokenId)
          return [400, { error: { code: "InvalidTokenId", message: "no such token" } }];
        if (req.name !== "password1" && req.name !== "password2")
          return [400, { error: { code: "InvalidPasswordName", message: `name ${req.name}` } }];
        const expiry = req.expiry === undefined ? null : Date.parse(req.expiry);
        if (expiry !== null && !(expiry > this.clock()))
          return [400, { error: { code: "InvalidExpiry", message: "expiry must be in the future" } }];
        const slot: SlotState = {
          value: `pw-${req.name}-${randomBytes(6).toString("hex")}`,
          creationTime: this.clock(),
          expiry,
        };
        this.slots.set(req.name, slot);
        this.generated.push(req.name);
        this.onGenerate?.(req.name);
        if (this.answerDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.answerDelayMs));
        return [
          200,
          {
            username: TOKEN,
            passwords: [
              {
                name: req.name,
                value: slot.value,
                creationTime: iso(slot.creationTime),
                expiry: iso(expiry),
              },
            ],
          },
        ];
      });
    return this;
  }

  remove(): void {
    this.scope?.persist(false);
    nock.cleanAll();
  }

  /** The registry's check at docker login / pull time. */
  accepts(username: string, password: string): boolean {
    if (this.status !== "enabled" || username !== TOKEN) return false;
    return [...this.slots.values()].some(
      (s) => s.value === password && (s.expiry === null || s.expiry > this.clock()),
    );
  }
}

/** Stands in for the Entra credential ARM's bearer policy asks; records the scopes it asks for. */
export function armCredential(scopes: string[] = [], token = "arm-access-token-0123456789"): TokenCredential {
  return {
    async getToken(scope): Promise<AccessToken> {
      scopes.push(...(Array.isArray(scope) ? scope : [scope]));
      return { token, expiresOnTimestamp: Date.now() + 3_600_000, tokenType: "Bearer" };
    },
  };
}

/** A scoped-token ACR provider for prodreg.azurecr.io (12 h passwords), settings overridable. */
export function scopedProvider(opts: {
  credential: TokenCredential;
  now: () => number;
  fields?: Record<string, unknown>;
  log?: Logger;
}): Provider {
  const settings = acrSchema.parse({
    name: "scoped",
    provider: "acr",
    registries: ["prodreg.azurecr.io"],
    auth: "managedIdentity",
    scopedToken: { subscriptionId: SUB, resourceGroup: RG, tokenName: TOKEN, passwordLifetime: "12h" },
    ...opts.fields,
  });
  return createAcrProvider(
    settings,
    { log: opts.log ?? captureLog().log, secrets: createSecretReader(process.cwd()) },
    { credential: opts.credential, now: opts.now, pollIntervalMs: 1 },
  );
}
