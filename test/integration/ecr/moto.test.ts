// The ecr provider against moto (AWS emulator) through the real @aws-sdk/client-ecr and the
// real credential providers: static keys, IRSA web identity, an assume-role chain, two regions,
// and moto's already-expired token under the real Refresher.
// moto does not verify SigV4 signatures: what each test checks is which identity signed the
// ECR call (the SigV4 Credential= access key, recorded after signing) and moto's answer, whose
// token and proxyEndpoint name the account of the identity that called.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ECRClient } from "@aws-sdk/client-ecr";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Refresher } from "../../../src/engine/refresher.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { DEFAULT_REFRESH, type RefreshPolicy } from "../../../src/base/refresh.ts";
import type { EcrClients } from "../../../providers/ecr/index.ts";
import { startMoto, type Moto } from "../../rig/moto.ts";
import { startMotoOnPort, type PortMoto } from "./moto-port.ts";
import {
  ACCESS_KEY_ID,
  SECRET_ACCESS_KEY,
  STATIC_AUTH,
  awsEnv,
  ecrProvider,
  keyDir,
  recordRequests,
  type SeenRequest,
} from "../../providers/ecr/harness.ts";

const MOTO_ACCOUNT = "123456789012"; // moto's default account: the static keys' account
const MOTO_EXPIRY = new Date("2015-01-01T00:00:00Z");
const signal = () => new AbortController().signal;
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** ECR (and STS for assumeRole) clients pointed at moto, recording every ECR request. */
function motoClients(moto: Moto, requests: SeenRequest[]): Partial<EcrClients> {
  return {
    ecr: (cfg) => {
      const client = new ECRClient({ ...cfg, endpoint: moto.endpoint });
      recordRequests(client, requests);
      return client;
    },
    stsConfig: { endpoint: moto.endpoint },
  };
}

/** Every secret the tests handle: none may appear in a log line, raw, JSON-escaped or base64. */
function expectNoSecrets(lines: string[], secrets: string[]): void {
  const text = lines.join("");
  for (const s of secrets) {
    expect(text).not.toContain(s);
    expect(text).not.toContain(b64(s));
  }
}

let moto: Moto;
let dir: string;
let restoreEnv: () => void;

beforeAll(async () => {
  moto = await startMoto();
  dir = keyDir(moto.credentials.accessKeyId, moto.credentials.secretAccessKey);
});
afterAll(async () => {
  await moto?.stop();
});
beforeEach(async () => {
  await moto.reset();
  restoreEnv = awsEnv();
});
afterEach(() => restoreEnv());

describe("ecr provider against moto", () => {
  it("static keys from files: one call signed with those keys; user AWS, password after the first colon, moto's true expiry", async () => {
    expect(moto.credentials).toEqual({ accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY });
    const requests: SeenRequest[] = [];
    const { provider, lines } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, {
      dir,
      clients: motoClients(moto, requests),
    });
    const creds = await provider.mint(signal());
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      target: "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
      credential: expect.stringMatching(new RegExp(`^${ACCESS_KEY_ID}/\\d{8}/eu-west-1/ecr/aws4_request$`)),
      body: "{}",
    });
    expect(creds).toEqual([
      {
        registries: [`${MOTO_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`],
        username: "AWS",
        password: `${MOTO_ACCOUNT}-auth-token`,
        expiresAt: MOTO_EXPIRY,
      },
    ]);
    expectNoSecrets(lines, [SECRET_ACCESS_KEY, `${MOTO_ACCOUNT}-auth-token`]);
  });

  it("IRSA: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE -> moto STS AssumeRoleWithWebIdentity -> ECR, endpoints from AWS_ENDPOINT_URL_STS / _ECR", async () => {
    const tokenFile = join(dir, "eks-token");
    // A projected ServiceAccount token's shape; moto does not verify it (real STS checks it against the cluster's OIDC issuer).
    writeFileSync(
      tokenFile,
      "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJpc3MiOiJodHRwczovL29pZGMuZWtzLmV1LXdlc3QtMS5hbWF6b25hd3MuY29tL2lkL0VYQU1QTEUiLCJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6cmVnY3JlZDpyZWdjcmVkIiwiYXVkIjoic3RzLmFtYXpvbmF3cy5jb20ifQ.c2lnbmF0dXJl",
    );
    restoreEnv();
    restoreEnv = awsEnv({
      AWS_ROLE_ARN: "arn:aws:iam::111122223333:role/regcred-irsa",
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
      AWS_ENDPOINT_URL_STS: moto.endpoint,
      AWS_ENDPOINT_URL_ECR: moto.endpoint,
    });
    expect(process.env["AWS_ACCESS_KEY_ID"]).toBeUndefined();
    // Default clients throughout: the SDK finds the endpoints and the web identity on its own.
    const { provider, lines } = ecrProvider("region: eu-west-1", { dir });
    const creds = await provider.mint(signal());
    // The role's account, not moto's default: the call was made with the web-identity session.
    expect(creds).toEqual([
      {
        registries: ["111122223333.dkr.ecr.eu-west-1.amazonaws.com"],
        username: "AWS",
        password: "111122223333-auth-token",
        expiresAt: MOTO_EXPIRY,
      },
    ]);
    expectNoSecrets(lines, ["111122223333-auth-token"]);
  });

  it("assume-role chain: static keys -> STS AssumeRole (external ID, session name) -> ECR signed with the session", async () => {
    const requests: SeenRequest[] = [];
    const { provider } = ecrProvider(
      `region: eu-west-1\n${STATIC_AUTH}\nassumeRole: { roleArn: "arn:aws:iam::210987654321:role/ecr-pull", externalId: regcred-ext, sessionName: regcred-test, duration: 1h }`,
      { dir, clients: motoClients(moto, requests) },
    );
    const creds = await provider.mint(signal());
    expect(requests).toHaveLength(1);
    // moto's STS session keys are ASIA...: not the static AKIA key.
    expect(requests[0]!.credential).toMatch(/^ASIA[A-Z0-9]{16}\/\d{8}\/eu-west-1\/ecr\/aws4_request$/);
    expect(creds).toEqual([
      {
        registries: ["210987654321.dkr.ecr.eu-west-1.amazonaws.com"],
        username: "AWS",
        password: "210987654321-auth-token",
        expiresAt: MOTO_EXPIRY,
      },
    ]);
  });

  it("two regions: two GetAuthorizationToken calls, two hosts, cross-account extras per region", async () => {
    const requests: SeenRequest[] = [];
    const { provider } = ecrProvider(
      `regions: [eu-west-1, us-east-1]\nregistries: [210987654321.dkr.ecr.us-east-1.amazonaws.com]\n${STATIC_AUTH}`,
      { dir, clients: motoClients(moto, requests) },
    );
    const creds = await provider.mint(signal());
    expect(requests.map((r) => /\/(\w+-\w+-\d)\/ecr\//.exec(r.credential ?? "")?.[1]).sort()).toEqual([
      "eu-west-1",
      "us-east-1",
    ]);
    expect(creds.map((c) => c.registries)).toEqual([
      [`${MOTO_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`],
      [`${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`, "210987654321.dkr.ecr.us-east-1.amazonaws.com"],
    ]);
    // A second refresh costs exactly two more calls.
    await provider.mint(signal());
    expect(requests).toHaveLength(4);
  });

  it("moto's already-expired token (2015) under the real Refresher: used, flagged with a warning, retried at minInterval, no hot loop", async () => {
    const requests: SeenRequest[] = [];
    const { provider, log, lines, records } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, {
      dir,
      clients: motoClients(moto, requests),
      level: "info",
    });
    const policy: RefreshPolicy = { ...DEFAULT_REFRESH, minInterval: 1_000, jitter: 0 };
    const metrics = new Metrics();
    const refresher = new Refresher([{ name: "prod-ecr", kind: "ecr", policy, provider }], { log, metrics });
    try {
      refresher.start();
      await refresher.settled();
      const st = refresher.status()[0]!;
      expect(st).toMatchObject({
        state: "expired",
        usable: true,
        expiresAt: MOTO_EXPIRY,
        lastError: null,
        consecutiveFailures: 0,
      });
      // The floor, not a hot loop: the next attempt is minInterval after this one.
      const wait = st.nextRefreshAt!.getTime() - st.lastSuccess!.getTime();
      expect(wait).toBeGreaterThanOrEqual(1_000);
      expect(wait).toBeLessThan(1_100);
      // Used: the Secrets would carry it (the registry may still accept it; nothing better exists).
      expect(refresher.credentials().get("prod-ecr")).toEqual([
        {
          registries: [`${MOTO_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`],
          username: "AWS",
          password: `${MOTO_ACCOUNT}-auth-token`,
          expiresAt: MOTO_EXPIRY,
        },
      ]);
      const warned = records().filter(
        (r) => r["level"] === "warn" && /arrived already expired/.test(String(r["msg"])),
      );
      expect(warned.length).toBeGreaterThanOrEqual(1);
      expect(warned[0]).toMatchObject({
        registry: "prod-ecr",
        provider: "ecr",
        expiresAt: MOTO_EXPIRY.toISOString(),
        nextRefreshIn: "1s",
      });
      await new Promise((r) => setTimeout(r, 3_500));
      // 3.5 s at a 1 s floor: the first call plus about three retries; a hot loop would be hundreds.
      expect(requests.length).toBeGreaterThanOrEqual(3);
      expect(requests.length).toBeLessThanOrEqual(5);
      expect(await metrics.text()).toMatch(
        new RegExp(
          `regcred_refresh_total\\{registry="prod-ecr",provider="ecr",result="expired"\\} ${requests.length}`,
        ),
      );
    } finally {
      await refresher.stop();
    }
    expectNoSecrets(lines, [SECRET_ACCESS_KEY, `${MOTO_ACCOUNT}-auth-token`]);
  });
});

// Last in the file: it stops the shared moto and brings a new one up on the same port.
describe("ecr provider: moto stopped mid-run", () => {
  let replacement: PortMoto | undefined;
  afterAll(async () => {
    await replacement?.stop();
  });

  it("failures counted with reason network, last good kept, recovery without restart when moto returns on the same port", async () => {
    const requests: SeenRequest[] = [];
    const { provider, log, lines, records } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, {
      dir,
      clients: motoClients(moto, requests),
      level: "info",
    });
    // moto's tokens "expire" in 2015, and the refresher drops an expired last-good the moment a
    // refresh fails. To watch last-good handling with moto's real answers, the refresher's clock
    // (only its clock: the SDK signs with the real one) runs in mid-2014.
    const offset = Date.now() - Date.parse("2014-07-01T00:00:00Z");
    const now = () => Date.now() - offset;
    const policy: RefreshPolicy = {
      ...DEFAULT_REFRESH,
      jitter: 0,
      retry: { initial: 300, max: 1_000 },
      timeout: 15_000,
    };
    const metrics = new Metrics();
    const refresher = new Refresher([{ name: "prod-ecr", kind: "ecr", policy, provider }], {
      log,
      metrics,
      now,
    });
    try {
      refresher.start();
      await refresher.settled();
      expect(refresher.status()[0]).toMatchObject({ state: "ok", usable: true });
      const good = refresher.credentials().get("prod-ecr");
      expect(good?.[0]?.password).toBe(`${MOTO_ACCOUNT}-auth-token`);

      const port = Number(new URL(moto.endpoint).port);
      await moto.stop();
      await refresher.refresh("prod-ecr", "test: moto stopped");
      await until(() => refresher.status()[0]!.consecutiveFailures >= 3, 20_000);
      const failing = refresher.status()[0]!;
      expect(failing).toMatchObject({ state: "failing", usable: true, lastError: { reason: "network" } });
      expect(failing.lastError!.message).toMatch(/^ECR GetAuthorizationToken \(eu-west-1\): ECONNREFUSED/);
      expect(refresher.credentials().get("prod-ecr")).toEqual(good);
      const failures = Number(
        new RegExp(
          `regcred_refresh_failures_total\\{registry="prod-ecr",provider="ecr",reason="network"\\} (\\d+)`,
        ).exec(await metrics.text())?.[1],
      );
      expect(failures).toBeGreaterThanOrEqual(3);
      const errors = records().filter((r) => r["level"] === "error");
      expect(errors.length).toBeGreaterThanOrEqual(3);
      expect(errors[0]).toMatchObject({ reason: "network", registry: "prod-ecr" });
      expect(String(errors[0]!["msg"])).toMatch(
        /refresh of prod-ecr failed \(network\): .*ECONNREFUSED.*keeping last good credential until 2015-01-01T00:00:00.000Z/,
      );

      // AWS comes back at the same address: the backoff retry (at most 1 s apart) picks it up.
      replacement = await startMotoOnPort(port);
      await until(() => refresher.status()[0]!.state === "ok", 20_000);
      expect(refresher.status()[0]).toMatchObject({ state: "ok", consecutiveFailures: 0, lastError: null });
      expect(records().some((r) => /recovered after failures/.test(String(r["msg"])))).toBe(true);
      expect(refresher.credentials().get("prod-ecr")?.[0]?.password).toBe(`${MOTO_ACCOUNT}-auth-token`);
    } finally {
      await refresher.stop();
    }
    expectNoSecrets(lines, [SECRET_ACCESS_KEY, `${MOTO_ACCOUNT}-auth-token`]);
  });
});

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
