// What the real @aws-sdk/client-ecr and client-ecr-public send, intercepted with nock: the
// endpoint host per partition / FIPS / ECR Public, the JSON protocol headers, the SigV4 scope,
// and how the provider parses the answers. No moto here (see test/integration/ecr).
import { nock } from "../../helpers/nock.ts";
import { ECRClient } from "@aws-sdk/client-ecr";
import { ECRPUBLICClient } from "@aws-sdk/client-ecr-public";
import { describe, expect, it } from "vitest";
import { ProviderError } from "../../../providers/contract.ts";
import {
  ACCESS_KEY_ID,
  SECRET_ACCESS_KEY,
  STATIC_AUTH,
  ecrProvider,
  keyDir,
  recordRequests,
  type SeenRequest,
} from "./harness.ts";
import { nockedAws } from "./nocked.ts";

const EXPIRES = 1_790_000_000; // epoch seconds, as ECR's JSON protocol sends timestamps
const signal = () => new AbortController().signal;

interface Captured {
  host: string;
  headers: Record<string, string>;
  body: unknown;
}

/** Answers one GetAuthorizationToken at origin, capturing the request (nock 15 hands a fetch Request). */
function answer(
  origin: string,
  body: Record<string, unknown>,
  requestId = "8f2c5a4e-0b5e-4e0b-9a47-1f0e8c6e9d11",
): Captured[] {
  const seen: Captured[] = [];
  nock(origin)
    .post("/")
    .reply(async (req: Request) => {
      seen.push({
        host: new URL(req.url).host,
        headers: Object.fromEntries(req.headers),
        body: JSON.parse(await req.text()),
      });
      return [
        200,
        JSON.stringify(body),
        { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": requestId },
      ];
    });
  return seen;
}

function token(user: string, password: string): string {
  return Buffer.from(`${user}:${password}`).toString("base64");
}

const dir = keyDir();
const aws = nockedAws();

describe("ecr: request shapes (nock)", () => {
  it("China: calls api.ecr.cn-north-1.amazonaws.com.cn, JSON 1.1, X-Amz-Target, SigV4 scope cn-north-1/ecr", async () => {
    const password = "eyJwYXlsb2FkIjoiY24ifQ:with:colons";
    const seen = answer("https://api.ecr.cn-north-1.amazonaws.com.cn", {
      authorizationData: [
        {
          authorizationToken: token("AWS", password),
          expiresAt: EXPIRES,
          proxyEndpoint: "https://123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
        },
      ],
    });
    const { provider } = ecrProvider(`region: cn-north-1\n${STATIC_AUTH}`, { dir });
    const creds = await provider.mint(signal());
    expect(seen).toHaveLength(1);
    const h = seen[0]!.headers;
    expect(h["x-amz-target"]).toBe("AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken");
    expect(h["content-type"]).toBe("application/x-amz-json-1.1");
    expect(seen[0]!.body).toEqual({}); // no registryIds: deprecated
    expect(h["authorization"]).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${ACCESS_KEY_ID}/\\d{8}/cn-north-1/ecr/aws4_request, SignedHeaders=[^,]*x-amz-target[^,]*, Signature=[0-9a-f]{64}$`,
      ),
    );
    // Password split on the FIRST colon only; expiry is the response's, not an assumed 12 h.
    expect(creds).toEqual([
      {
        registries: ["123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"],
        username: "AWS",
        password,
        expiresAt: new Date(EXPIRES * 1000),
      },
    ]);
  });

  it("FIPS: fips: true makes the SDK call api.ecr-fips.us-east-1.amazonaws.com", async () => {
    const seen = answer("https://api.ecr-fips.us-east-1.amazonaws.com", {
      authorizationData: [
        {
          authorizationToken: token("AWS", "fips-token-0123"),
          expiresAt: EXPIRES,
          proxyEndpoint: "https://123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
        },
      ],
    });
    const { provider } = ecrProvider(`region: us-east-1\nfips: true\n${STATIC_AUTH}`, { dir });
    const creds = await provider.mint(signal());
    expect(seen.map((s) => s.host)).toEqual(["api.ecr-fips.us-east-1.amazonaws.com"]);
    expect(seen[0]!.headers["authorization"]).toMatch(/\/us-east-1\/ecr\/aws4_request/);
    expect(creds[0]!.registries).toEqual(["123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"]);
  });

  it("FIPS from the environment (AWS_USE_FIPS_ENDPOINT) is honoured when the config says nothing", async () => {
    aws.env({ AWS_USE_FIPS_ENDPOINT: "true" });
    const seen = answer("https://api.ecr-fips.us-gov-west-1.amazonaws.com", {
      authorizationData: [
        {
          authorizationToken: token("AWS", "gov-token-0123"),
          expiresAt: EXPIRES,
          proxyEndpoint: "https://123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
        },
      ],
    });
    const { provider } = ecrProvider(`region: us-gov-west-1\n${STATIC_AUTH}`, { dir });
    await provider.mint(signal());
    expect(seen.map((s) => s.host)).toEqual(["api.ecr-fips.us-gov-west-1.amazonaws.com"]);
  });

  it("ECR Public: calls api.ecr-public.us-east-1.amazonaws.com; authorizationData is one object without proxyEndpoint", async () => {
    const password = "public:token:with:colons";
    const seen = answer("https://api.ecr-public.us-east-1.amazonaws.com", {
      authorizationData: { authorizationToken: token("AWS", password), expiresAt: EXPIRES },
    });
    const { provider } = ecrProvider(`public: true\n${STATIC_AUTH}`, { dir });
    const creds = await provider.mint(signal());
    expect(seen).toHaveLength(1);
    expect(seen[0]!.headers["x-amz-target"]).toBe("SpencerFrontendService.GetAuthorizationToken");
    expect(seen[0]!.headers["content-type"]).toBe("application/x-amz-json-1.1");
    expect(seen[0]!.headers["authorization"]).toMatch(/\/us-east-1\/ecr-public\/aws4_request/);
    expect(creds).toEqual([
      { registries: ["public.ecr.aws"], username: "AWS", password, expiresAt: new Date(EXPIRES * 1000) },
    ]);
  });

  it("a custom endpoint (VPC endpoint) is where the request goes", async () => {
    const vpce = "https://vpce-0a1b2c3d4e5f-abcdefgh.api.ecr.eu-west-1.vpce.amazonaws.com";
    const seen = answer(vpce, {
      authorizationData: [
        {
          authorizationToken: token("AWS", "vpce-token-0123"),
          expiresAt: EXPIRES,
          proxyEndpoint: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        },
      ],
    });
    const { provider } = ecrProvider(`region: eu-west-1\nendpoint: ${vpce}\n${STATIC_AUTH}`, { dir });
    const creds = await provider.mint(signal());
    expect(seen.map((s) => s.host)).toEqual([new URL(vpce).host]);
    expect(seen[0]!.headers["authorization"]).toMatch(/\/eu-west-1\/ecr\/aws4_request/);
    expect(creds[0]!.registries).toEqual(["123456789012.dkr.ecr.eu-west-1.amazonaws.com"]);
  });

  it("AWS_ENDPOINT_URL_ECR is honoured by the SDK (service-specific endpoint variable)", async () => {
    aws.env({ AWS_ENDPOINT_URL_ECR: "https://ecr-proxy.internal.example:8443" });
    const seen = answer("https://ecr-proxy.internal.example:8443", {
      authorizationData: [
        {
          authorizationToken: token("AWS", "env-token-0123"),
          expiresAt: EXPIRES,
          proxyEndpoint: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        },
      ],
    });
    const { provider } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, { dir });
    await provider.mint(signal());
    expect(seen.map((s) => s.host)).toEqual(["ecr-proxy.internal.example:8443"]);
  });

  it("two regions: two clients, two calls, each credential with its own host and the configured extras", async () => {
    const requests: SeenRequest[] = [];
    const eu = answer("https://api.ecr.eu-west-1.amazonaws.com", {
      authorizationData: [
        {
          authorizationToken: token("AWS", "eu-token-0123"),
          expiresAt: EXPIRES,
          proxyEndpoint: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        },
      ],
    });
    const us = answer("https://api.ecr.us-east-1.amazonaws.com", {
      authorizationData: [
        {
          authorizationToken: token("AWS", "us-token-0123"),
          expiresAt: EXPIRES + 60,
          proxyEndpoint: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
        },
      ],
    });
    const { provider } = ecrProvider(
      `regions: [eu-west-1, us-east-1]\nregistries: [210987654321.dkr.ecr.eu-west-1.amazonaws.com]\n${STATIC_AUTH}`,
      {
        dir,
        clients: {
          ecr: (cfg) => {
            const client = new ECRClient(cfg);
            recordRequests(client, requests);
            return client;
          },
        },
      },
    );
    const creds = await provider.mint(signal());
    expect([eu.length, us.length]).toEqual([1, 1]);
    expect(requests.map((r) => r.hostname).sort()).toEqual([
      "api.ecr.eu-west-1.amazonaws.com",
      "api.ecr.us-east-1.amazonaws.com",
    ]);
    expect(creds).toEqual([
      {
        registries: [
          "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
          "210987654321.dkr.ecr.eu-west-1.amazonaws.com",
        ],
        username: "AWS",
        password: "eu-token-0123",
        expiresAt: new Date(EXPIRES * 1000),
      },
      {
        registries: ["123456789012.dkr.ecr.us-east-1.amazonaws.com"],
        username: "AWS",
        password: "us-token-0123",
        expiresAt: new Date((EXPIRES + 60) * 1000),
      },
    ]);
  });

  it("assume role: STS AssumeRole in the entry's region with the role, external ID, session name and duration; ECR signed with the session", async () => {
    let form: URLSearchParams | undefined;
    let stsAuth = "";
    nock("https://sts.eu-west-1.amazonaws.com")
      .post("/")
      .reply(async (req: Request) => {
        form = new URLSearchParams(await req.text());
        stsAuth = req.headers.get("authorization") ?? "";
        return [
          200,
          `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAROLESESSION00001</AccessKeyId><SecretAccessKey>role/session/secret/key/0123456789abcdef</SecretAccessKey>
<SessionToken>FwoGZXIvYXdzEROLESESSIONTOKEN0123456789</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::210987654321:assumed-role/ecr-pull/regcred</Arn><AssumedRoleId>AROAEXAMPLE:regcred</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata></AssumeRoleResponse>`,
          { "content-type": "text/xml" },
        ];
      });
    const seen = answer("https://api.ecr.eu-west-1.amazonaws.com", {
      authorizationData: [
        {
          authorizationToken: token("AWS", "role-token-0123"),
          expiresAt: EXPIRES,
          proxyEndpoint: "https://210987654321.dkr.ecr.eu-west-1.amazonaws.com",
        },
      ],
    });
    const { provider, lines } = ecrProvider(
      `region: eu-west-1\n${STATIC_AUTH}\nassumeRole: { roleArn: "arn:aws:iam::210987654321:role/ecr-pull", externalId: ext-42, duration: 1h }`,
      { dir },
    );
    await provider.mint(signal());
    expect(Object.fromEntries(form!)).toMatchObject({
      Action: "AssumeRole",
      RoleArn: "arn:aws:iam::210987654321:role/ecr-pull",
      RoleSessionName: "regcred",
      ExternalId: "ext-42",
      DurationSeconds: "3600",
    });
    expect(stsAuth).toMatch(new RegExp(`Credential=${ACCESS_KEY_ID}/\\d{8}/eu-west-1/sts/aws4_request`));
    expect(seen[0]!.headers["authorization"]).toMatch(
      /Credential=ASIAROLESESSION00001\/\d{8}\/eu-west-1\/ecr\/aws4_request/,
    );
    expect(seen[0]!.headers["x-amz-security-token"]).toBe("FwoGZXIvYXdzEROLESESSIONTOKEN0123456789");
    const logs = lines.join("");
    for (const secret of [
      SECRET_ACCESS_KEY,
      "role/session/secret/key/0123456789abcdef",
      "FwoGZXIvYXdzEROLESESSIONTOKEN0123456789",
      "role-token-0123",
    ]) {
      expect(logs).not.toContain(secret);
    }
  });

  it("ECR Public client factory is the one used for public: true", async () => {
    const requests: SeenRequest[] = [];
    answer("https://api.ecr-public.us-east-1.amazonaws.com", {
      authorizationData: { authorizationToken: token("AWS", "public-token-0123"), expiresAt: EXPIRES },
    });
    const { provider } = ecrProvider(`public: true\n${STATIC_AUTH}`, {
      dir,
      clients: {
        ecrPublic: (cfg) => {
          const client = new ECRPUBLICClient(cfg);
          recordRequests(client, requests);
          return client;
        },
      },
    });
    await provider.mint(signal());
    expect(requests).toMatchObject([
      {
        hostname: "api.ecr-public.us-east-1.amazonaws.com",
        target: "SpencerFrontendService.GetAuthorizationToken",
      },
    ]);
  });
});

describe("ecr: response parsing failures are invalid_response", () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["no authorizationData", { authorizationData: [] }, /no authorizationData/],
    [
      "a token without a colon",
      {
        authorizationData: [
          {
            authorizationToken: Buffer.from("AWSnocolon").toString("base64"),
            expiresAt: EXPIRES,
            proxyEndpoint: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
          },
        ],
      },
      /not base64 of user:password/,
    ],
    [
      "no expiresAt",
      {
        authorizationData: [
          {
            authorizationToken: token("AWS", "x-token-0123"),
            proxyEndpoint: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
          },
        ],
      },
      /no expiresAt/,
    ],
    [
      "no proxyEndpoint and no registries",
      { authorizationData: [{ authorizationToken: token("AWS", "x-token-0123"), expiresAt: EXPIRES }] },
      /no proxyEndpoint/,
    ],
  ];
  it.each(cases)("%s", async (_name, body, message) => {
    answer("https://api.ecr.eu-west-1.amazonaws.com", body, "req-invalid-1");
    const { provider } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, { dir });
    const err = await provider.mint(signal()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({
      reason: "invalid_response",
      requestId: "req-invalid-1",
      message: expect.stringMatching(message),
    });
  });
});
