// The scoped-token mode's ARM calls, as @azure/arm-containerregistry sends them, checked with
// nock: the token read, then generateCredentials (direct answer and long-running operation).
import { describe, expect, it } from "vitest";
import { useNock } from "../../helpers/nock.ts";
import { chooseSlot, liveSlot } from "../../../providers/acr/scoped-token.ts";
import { ProviderError, type Credential } from "../../../providers/contract.ts";
import { API, RG, SUB, TOKEN, armCredential, scopedProvider } from "./fake-arm.ts";

const nock = useNock();

const NOW = Date.parse("2026-11-22T10:00:00Z");
const ARM_TOKEN = "arm-access-token-for-the-test-0123456789";

function tokenPath(registry: string) {
  return `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerRegistry/registries/${registry}/tokens/${TOKEN}`;
}
function generatePath(registry: string) {
  return `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerRegistry/registries/${registry}/generateCredentials`;
}

/** An ACR token resource as ARM returns it. */
function tokenResource(
  registry: string,
  passwords: Array<{ name: string; creationTime: string; expiry?: string }>,
  status = "enabled",
) {
  return {
    id: tokenPath(registry),
    name: TOKEN,
    type: "Microsoft.ContainerRegistry/registries/tokens",
    properties: {
      creationDate: "2026-01-01T00:00:00Z",
      provisioningState: "Succeeded",
      scopeMapId: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.ContainerRegistry/registries/${registry}/scopeMaps/pull-app`,
      credentials: { certificates: [], passwords },
      status,
    },
  };
}

function provider(fields: Record<string, unknown>, scopes: string[]) {
  return scopedProvider({ credential: armCredential(scopes, ARM_TOKEN), now: () => NOW, fields });
}

const signal = () => new AbortController().signal;

describe("scoped-token mode", () => {
  it("reads the token, regenerates its free password slot with an explicit expiry, and returns it", async () => {
    const scopes: string[] = [];
    const bodies: unknown[] = [];
    const expiry = new Date(NOW + 12 * 3_600_000).toISOString();
    nock("https://management.azure.com")
      .get(tokenPath("prodreg"))
      .query({ "api-version": API })
      .matchHeader("authorization", `Bearer ${ARM_TOKEN}`)
      .reply(
        200,
        tokenResource("prodreg", [
          { name: "password1", creationTime: "2026-11-21T10:00:00Z", expiry: "2026-11-22T22:00:00Z" },
        ]),
      )
      .post(generatePath("prodreg"), (body) => {
        bodies.push(body);
        return true;
      })
      .query({ "api-version": API })
      .matchHeader("authorization", `Bearer ${ARM_TOKEN}`)
      .matchHeader("content-type", /^application\/json/)
      .reply(200, {
        username: TOKEN,
        passwords: [
          {
            name: "password2",
            value: "generated-password-2-value",
            creationTime: new Date(NOW).toISOString(),
            expiry,
          },
        ],
      });

    const creds: Credential[] = await provider({}, scopes).mint(signal());

    expect(bodies).toEqual([{ tokenId: tokenPath("prodreg"), expiry, name: "password2" }]);
    // One ARM token for both calls (the pipeline's bearer policy caches it), for ARM's audience.
    expect(scopes).toEqual(["https://management.azure.com/.default"]);
    expect(creds).toEqual([
      {
        registries: ["prodreg.azurecr.io"],
        username: TOKEN,
        password: "generated-password-2-value",
        expiresAt: new Date(expiry),
      },
    ]);
  });

  it("follows the long-running operation when ARM answers 202", async () => {
    const scopes: string[] = [];
    const expiry = new Date(NOW + 12 * 3_600_000).toISOString();
    const operation = `https://management.azure.com/subscriptions/${SUB}/providers/Microsoft.ContainerRegistry/locations/westeurope/operationResults/op-1`;
    const status = `https://management.azure.com/subscriptions/${SUB}/providers/Microsoft.ContainerRegistry/locations/westeurope/operationStatuses/op-1`;
    let bodySeen: unknown;
    nock("https://management.azure.com")
      .get(tokenPath("prodreg"))
      .query({ "api-version": API })
      .reply(
        200,
        tokenResource("prodreg", [
          { name: "password1", creationTime: "2026-11-20T10:00:00Z" },
          { name: "password2", creationTime: "2026-11-21T10:00:00Z" },
        ]),
      )
      .post(generatePath("prodreg"), (body) => {
        bodySeen = body;
        return true;
      })
      .query({ "api-version": API })
      .reply(202, "", {
        "azure-asyncoperation": `${status}?api-version=${API}`,
        location: `${operation}?api-version=${API}`,
        "retry-after": "0",
      })
      .get(
        `/subscriptions/${SUB}/providers/Microsoft.ContainerRegistry/locations/westeurope/operationStatuses/op-1`,
      )
      .query({ "api-version": API })
      .reply(200, { status: "InProgress" })
      .get(
        `/subscriptions/${SUB}/providers/Microsoft.ContainerRegistry/locations/westeurope/operationStatuses/op-1`,
      )
      .query({ "api-version": API })
      .reply(200, { status: "Succeeded" })
      .get(
        `/subscriptions/${SUB}/providers/Microsoft.ContainerRegistry/locations/westeurope/operationResults/op-1`,
      )
      .query({ "api-version": API })
      .reply(200, {
        username: TOKEN,
        passwords: [{ name: "password1", value: "generated-password-1-value", expiry }],
      });

    const creds = await provider({}, scopes).mint(signal());

    // Both slots in use: the older (password1) is regenerated, password2 stays valid meanwhile.
    expect(bodySeen).toEqual({ tokenId: tokenPath("prodreg"), expiry, name: "password1" });
    expect(creds[0]).toMatchObject({
      username: TOKEN,
      password: "generated-password-1-value",
      expiresAt: new Date(expiry),
    });
  });

  it("uses the sovereign cloud's ARM endpoint and audience, and the configured registry name", async () => {
    const scopes: string[] = [];
    nock("https://management.chinacloudapi.cn")
      .get(tokenPath("cnreg01"))
      .query({ "api-version": API })
      .reply(200, tokenResource("cnreg01", []))
      .post(generatePath("cnreg01"), (body: { name?: string }) => body.name === "password1")
      .query({ "api-version": API })
      .reply(200, { passwords: [{ name: "password1", value: "cn-generated-password-value" }] });

    const creds = await provider(
      {
        registries: ["cnreg01-abc123.azurecr.cn"],
        scopedToken: { subscriptionId: SUB, resourceGroup: RG, tokenName: TOKEN, registryName: "cnreg01" },
      },
      scopes,
    ).mint(signal());
    expect(scopes[0]).toBe("https://management.chinacloudapi.cn/.default");
    // 24 h by default, taken from the request since the answer carries no expiry
    expect(creds[0]).toMatchObject({
      registries: ["cnreg01-abc123.azurecr.cn"],
      expiresAt: new Date(NOW + 24 * 3_600_000),
    });
  });

  it.each([
    [403, "AuthorizationFailed", "access_denied"],
    [404, "ResourceNotFound", "not_found"],
    [429, "TooManyRequests", "throttled"],
  ])("classifies ARM %i %s as %s", async (status, code, reason) => {
    nock("https://management.azure.com")
      .get(tokenPath("prodreg"))
      .query(true)
      .reply(
        status,
        { error: { code, message: `The client does not have authorization (${code})` } },
        { "x-ms-correlation-request-id": "corr-1234" },
      );
    const err = await provider({}, [])
      .mint(signal())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ reason, requestId: "corr-1234" });
    expect((err as Error).message).toMatch(new RegExp(`HTTP ${status} ${code}`));
  });

  it("refuses a disabled token", async () => {
    nock("https://management.azure.com")
      .get(tokenPath("prodreg"))
      .query(true)
      .reply(200, tokenResource("prodreg", [], "disabled"));
    await expect(provider({}, []).mint(signal())).rejects.toMatchObject({
      reason: "access_denied",
      message: expect.stringMatching(/disabled/),
    });
  });
});

describe("password slot choice", () => {
  const at = (iso: string) => new Date(iso);
  const now = Date.parse("2026-01-05T00:00:00Z");
  const slot = (name: string, created: string, expiry?: string) => ({
    name,
    creationTime: at(created),
    ...(expiry ? { expiry: at(expiry) } : {}),
  });

  it("never regenerates the live slot", () => {
    const both = [slot("password1", "2026-01-01T00:00:00Z"), slot("password2", "2026-01-02T00:00:00Z")];
    expect(chooseSlot(both, "password1", now)).toBe("password2");
    expect(chooseSlot(both, "password2", now)).toBe("password1");
  });

  it("not knowing the live slot: an empty one, else an expired one, else the one that expires first", () => {
    expect(chooseSlot([], undefined, now)).toBe("password1");
    expect(chooseSlot([slot("password1", "2026-01-02T00:00:00Z")], undefined, now)).toBe("password2");
    expect(chooseSlot([slot("password2", "2026-01-02T00:00:00Z")], undefined, now)).toBe("password1");
    const valid = (one: string, two: string) => [
      slot("password1", "2026-01-01T00:00:00Z", one),
      slot("password2", "2026-01-01T00:00:00Z", two),
    ];
    expect(chooseSlot(valid("2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z"), undefined, now)).toBe(
      "password1",
    );
    expect(chooseSlot(valid("2026-01-08T00:00:00Z", "2026-01-07T00:00:00Z"), undefined, now)).toBe(
      "password2",
    );
    // expired beats valid even when it expires later than... nothing: it cannot be in use
    expect(chooseSlot(valid("2026-01-06T00:00:00Z", "2026-01-04T00:00:00Z"), undefined, now)).toBe(
      "password2",
    );
    // no expiry on either: the older
    const undated = [slot("password1", "2026-01-03T00:00:00Z"), slot("password2", "2026-01-02T00:00:00Z")];
    expect(chooseSlot(undated, undefined, now)).toBe("password2");
  });

  it("finds the live slot by the value handed out, else by the held credential's expiry, else by memory", () => {
    const passwords = [
      slot("password1", "2026-01-01T00:00:00Z", "2026-01-06T00:00:00Z"),
      slot("password2", "2026-01-02T00:00:00Z", "2026-01-07T00:00:00Z"),
    ];
    const held = (password: string, expiresAt: string | null) => ({
      registries: ["prodreg.azurecr.io"],
      username: TOKEN,
      password,
      expiresAt: expiresAt === null ? null : at(expiresAt),
    });
    const issued = { slot: "password2" as const, password: "pw-2", expiresAt: at("2026-01-07T00:00:00Z") };
    expect(liveSlot(passwords, held("pw-2", null), issued)).toBe("password2");
    // after a restart: nothing issued, matched by expiry (to the second)
    expect(liveSlot(passwords, held("pw-1", "2026-01-06T00:00:00.400Z"), undefined)).toBe("password1");
    expect(liveSlot(passwords, held("pw-x", "2026-01-09T00:00:00Z"), undefined)).toBeUndefined();
    expect(liveSlot(passwords, undefined, issued)).toBe("password2");
    expect(liveSlot(passwords, undefined, undefined)).toBeUndefined();
  });
});
