// The ecr provider under the real Refresher (ECR answered by nock): ECR's true expiry drives the
// schedule, a classified failure keeps the last good credential, and no secret reaches the log.
import { nock } from "../../helpers/nock.ts";
import { describe, expect, it } from "vitest";
import { underRefresher } from "../../helpers/provider-kit.ts";
import { DEFAULT_REFRESH } from "../../../src/base/refresh.ts";
import { SECRET_ACCESS_KEY, STATIC_AUTH, ecrProvider, keyDir } from "./harness.ts";
import { nockedAws } from "./nocked.ts";

const ECR = "https://api.ecr.eu-west-1.amazonaws.com";
const HOUR = 3_600_000;

const dir = keyDir();
nockedAws();

describe("ecr provider under the Refresher", () => {
  it("schedules from ECR's expiresAt, keeps the last good on access_denied, logs the request ID and no secret", async () => {
    const password = "eyJwYXlsb2FkIjoiRUNSIn0:opaque-ecr-password-0123456789";
    const expiresAt = new Date(Math.floor((Date.now() + 12 * HOUR) / 1000) * 1000);
    nock(ECR)
      .post("/")
      .reply(
        200,
        JSON.stringify({
          authorizationData: [
            {
              authorizationToken: Buffer.from(`AWS:${password}`).toString("base64"),
              expiresAt: expiresAt.getTime() / 1000,
              proxyEndpoint: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            },
          ],
        }),
        { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": "ok-req-1" },
      );
    const { provider, log, lines, records } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, { dir });
    const { refresher } = underRefresher(provider, {
      name: "prod-ecr",
      kind: "ecr",
      policy: DEFAULT_REFRESH,
      deps: { log, random: Math.random },
    });
    try {
      refresher.start();
      await refresher.settled();
      const ok = refresher.status()[0]!;
      expect(ok).toMatchObject({
        state: "ok",
        expiresAt,
        registries: ["123456789012.dkr.ecr.eu-west-1.amazonaws.com"],
      });
      // At half the remaining 12 h, ±10% jitter: between 5.4 h and 6.6 h from now.
      const inMs = ok.nextRefreshAt!.getTime() - ok.lastSuccess!.getTime();
      expect(inMs).toBeGreaterThan(5.4 * HOUR - 1_000);
      expect(inMs).toBeLessThan(6.6 * HOUR + 1_000);

      nock(ECR)
        .post("/")
        .reply(
          400,
          JSON.stringify({
            __type: "AccessDeniedException",
            message:
              "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:GetAuthorizationToken",
          }),
          { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": "denied-req-7" },
        );
      await refresher.refresh("prod-ecr", "test");
      const failing = refresher.status()[0]!;
      expect(failing).toMatchObject({
        state: "failing",
        usable: true,
        consecutiveFailures: 1,
        lastError: { reason: "access_denied" },
      });
      expect(refresher.credentials().get("prod-ecr")?.[0]).toMatchObject({
        username: "AWS",
        password,
        expiresAt,
      });
      const error = records().find((r) => r["level"] === "error")!;
      expect(error).toMatchObject({ reason: "access_denied", requestId: "denied-req-7" });
      expect(String(error["msg"])).toMatch(
        /refresh of prod-ecr failed \(access_denied\): ECR GetAuthorizationToken \(eu-west-1\): AccessDeniedException: /,
      );
    } finally {
      await refresher.stop();
    }
    const text = lines.join("");
    for (const secret of [password, SECRET_ACCESS_KEY, Buffer.from(`AWS:${password}`).toString("base64")]) {
      expect(text).not.toContain(secret);
    }
  });
});
