// Error classification: the AWS error as the real SDK raises it (answers served by nock in the
// wire formats ECR (JSON 1.1) and STS (query/XML) use), mapped onto the fixed reasons, with
// AWS's request ID carried for support cases.
import { createServer } from "node:net";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { nock } from "../../helpers/nock.ts";
import { ECRClient } from "@aws-sdk/client-ecr";
import { describe, expect, it } from "vitest";
import { ProviderError } from "../../../providers/contract.ts";
import { classify } from "../../../providers/ecr/errors.ts";
import { STATIC_AUTH, ecrProvider, keyDir } from "./harness.ts";
import { nockedAws } from "./nocked.ts";

const ECR = "https://api.ecr.eu-west-1.amazonaws.com";
const STS = "https://sts.eu-west-1.amazonaws.com";
const noRetry = {
  ecr: (cfg: ConstructorParameters<typeof ECRClient>[0]) => new ECRClient({ ...cfg, maxAttempts: 1 }),
};

function ecrFails(status: number, type: string, message: string, requestId: string): void {
  nock(ECR)
    .post("/")
    .reply(status, JSON.stringify({ __type: type, message }), {
      "content-type": "application/x-amz-json-1.1",
      "x-amzn-requestid": requestId,
    });
}

function stsFails(status: number, code: string, message: string, requestId: string): void {
  nock(STS)
    .post("/")
    .reply(
      status,
      `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      { "content-type": "text/xml", "x-amzn-requestid": requestId },
    );
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

const signal = () => new AbortController().signal;
const dir = keyDir();
const aws = nockedAws({ allowLoopback: true });

describe("ecr: classify (by AWS error code)", () => {
  const table: Array<[string, string]> = [
    ["AccessDeniedException", "access_denied"],
    ["AccessDenied", "access_denied"],
    ["UnrecognizedClientException", "bad_credentials"],
    ["InvalidClientTokenId", "bad_credentials"],
    ["SignatureDoesNotMatch", "bad_credentials"],
    ["CredentialsProviderError", "bad_credentials"],
    ["ExpiredTokenException", "expired_token"],
    ["ExpiredToken", "expired_token"],
    ["InvalidIdentityToken", "expired_token"],
    ["InvalidIdentityTokenException", "expired_token"],
    ["IDPRejectedClaimException", "access_denied"],
    ["ThrottlingException", "throttled"],
    ["TooManyRequestsException", "throttled"],
    ["Throttling", "throttled"],
    ["TimeoutError", "timeout"],
    ["RequestTimeoutException", "timeout"],
    ["ServerException", "unknown"],
  ];
  it.each(table)("%s -> %s", (name, reason) => {
    expect(classify(Object.assign(new Error("x"), { name }))).toBe(reason);
  });
  it("network codes win, also nested in causes; HTTP 429 without a known code is throttled", () => {
    expect(classify(Object.assign(new Error("x"), { code: "ENOTFOUND" }))).toBe("network");
    expect(
      classify(new Error("wrapped", { cause: Object.assign(new Error("y"), { code: "ECONNRESET" }) })),
    ).toBe("network");
    expect(
      classify(Object.assign(new Error("x"), { name: "Weird", $metadata: { httpStatusCode: 429 } })),
    ).toBe("throttled");
  });
});

describe("ecr: errors as the SDK raises them", () => {
  it("AccessDeniedException from ECR -> access_denied, with AWS's request ID", async () => {
    ecrFails(
      400,
      "AccessDeniedException",
      "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:GetAuthorizationToken on resource: *",
      "11111111-aaaa-4bbb-8ccc-000000000001",
    );
    const { provider } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, { dir, clients: noRetry });
    const err = await failure(provider.mint(signal()));
    expect(err.reason).toBe("access_denied");
    expect(err.requestId).toBe("11111111-aaaa-4bbb-8ccc-000000000001");
    expect(err.message).toMatch(
      /^ECR GetAuthorizationToken \(eu-west-1\): AccessDeniedException: User: .* is not authorized .* \(HTTP 400\)$/,
    );
  });

  it("UnrecognizedClientException (unknown access key) -> bad_credentials", async () => {
    ecrFails(
      400,
      "UnrecognizedClientException",
      "The security token included in the request is invalid.",
      "req-2",
    );
    const { provider } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, { dir, clients: noRetry });
    expect(await failure(provider.mint(signal()))).toMatchObject({
      reason: "bad_credentials",
      requestId: "req-2",
    });
  });

  it("ExpiredTokenException (stale session keys) -> expired_token", async () => {
    ecrFails(400, "ExpiredTokenException", "The security token included in the request is expired", "req-3");
    const { provider } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, { dir, clients: noRetry });
    expect(await failure(provider.mint(signal()))).toMatchObject({
      reason: "expired_token",
      requestId: "req-3",
    });
  });

  it("ThrottlingException -> throttled", async () => {
    ecrFails(400, "ThrottlingException", "Rate exceeded", "req-4");
    const { provider } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, { dir, clients: noRetry });
    expect(await failure(provider.mint(signal()))).toMatchObject({ reason: "throttled", requestId: "req-4" });
  });

  it("STS AccessDenied on AssumeRole -> access_denied, message names the credential chain", async () => {
    stsFails(
      403,
      "AccessDenied",
      "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role/ecr-pull",
      "sts-req-1",
    );
    const { provider } = ecrProvider(
      `region: eu-west-1\n${STATIC_AUTH}\nassumeRole: { roleArn: "arn:aws:iam::210987654321:role/ecr-pull" }`,
      { dir },
    );
    const err = await failure(provider.mint(signal()));
    expect(err).toMatchObject({ reason: "access_denied", requestId: "sts-req-1" });
    expect(err.message).toMatch(
      /^AWS credentials \(static keys, then assume role arn:aws:iam::210987654321:role\/ecr-pull\): AccessDenied: /,
    );
  });

  it("IRSA: STS InvalidIdentityToken on AssumeRoleWithWebIdentity -> expired_token", async () => {
    const tokenFile = join(dir, "web-identity-token");
    writeFileSync(
      tokenFile,
      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6cmVnY3JlZDpyZWdjcmVkIn0.c2ln",
    );
    aws.env({
      AWS_ROLE_ARN: "arn:aws:iam::123456789012:role/regcred-irsa",
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
    });
    stsFails(
      400,
      "InvalidIdentityToken",
      "No OpenIDConnect provider found in your account for https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE",
      "sts-req-2",
    );
    const { provider } = ecrProvider("region: eu-west-1", { dir });
    // The SDK models this STS code as InvalidIdentityTokenException: both spellings are mapped.
    expect(await failure(provider.mint(signal()))).toMatchObject({
      reason: "expired_token",
      requestId: "sts-req-2",
      message: expect.stringMatching(
        /default credential chain\): InvalidIdentityTokenException: No OpenIDConnect provider/,
      ),
    });
  });

  it("no credentials anywhere (default chain exhausted) -> bad_credentials (CredentialsProviderError)", async () => {
    const { provider } = ecrProvider("region: eu-west-1", { dir });
    const err = await failure(provider.mint(signal()));
    expect(err.reason).toBe("bad_credentials");
    expect(err.message).toMatch(
      /^AWS credentials \(default credential chain\): CredentialsProviderError: Could not load credentials/,
    );
  });

  it("a missing key file -> source_unavailable (from the secret reader, untouched)", async () => {
    const { provider } = ecrProvider(
      `region: eu-west-1\nauth: { accessKeyIdFrom: { file: nope }, secretAccessKeyFrom: { file: secret-access-key } }`,
      { dir },
    );
    expect(await failure(provider.mint(signal()))).toMatchObject({
      reason: "source_unavailable",
      message: expect.stringMatching(/cannot read file nope: ENOENT/),
    });
  });

  it("ECONNREFUSED (nothing listening) -> network", async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, "127.0.0.1", () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    aws.env({ AWS_ENDPOINT_URL_ECR: `http://127.0.0.1:${port}` });
    const { provider } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, { dir, clients: noRetry });
    expect(await failure(provider.mint(signal()))).toMatchObject({
      reason: "network",
      message: expect.stringMatching(/ECONNREFUSED/),
    });
  });

  it("ENOTFOUND -> network", async () => {
    nock(ECR)
      .post("/")
      .replyWithError(
        Object.assign(new Error("getaddrinfo ENOTFOUND api.ecr.eu-west-1.amazonaws.com"), {
          code: "ENOTFOUND",
        }),
      );
    const { provider } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, { dir, clients: noRetry });
    expect(await failure(provider.mint(signal()))).toMatchObject({
      reason: "network",
      message: expect.stringMatching(/ENOTFOUND/),
    });
  });

  it("an abort from the refresher passes through unwrapped", async () => {
    nock(ECR).post("/").delay(5_000).reply(200, "{}");
    const { provider } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, { dir, clients: noRetry });
    const controller = new AbortController();
    const minting = provider.mint(controller.signal);
    setTimeout(() => controller.abort(new ProviderError("timeout", "mint took longer than 30s")), 50);
    const err = await minting.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).not.toBeInstanceOf(ProviderError);
    expect((err as Error).name).toBe("AbortError");
  });
});
