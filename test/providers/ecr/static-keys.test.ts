// Static keys: read from files on every refresh (a rotated key is used at once), a session token
// sent as X-Amz-Security-Token, and watch() firing when a key file changes.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { nock } from "../../helpers/nock.ts";
import { describe, expect, it } from "vitest";
import { STATIC_AUTH, ecrProvider, keyDir } from "./harness.ts";
import { nockedAws } from "./nocked.ts";

const ECR = "https://api.ecr.eu-west-1.amazonaws.com";

function answer(seen: Array<Record<string, string>>): void {
  nock(ECR)
    .post("/")
    .reply(async (req: Request) => {
      seen.push(Object.fromEntries(req.headers));
      return [
        200,
        JSON.stringify({
          authorizationData: [
            {
              authorizationToken: Buffer.from("AWS:static-token-0123").toString("base64"),
              expiresAt: 1_790_000_000,
              proxyEndpoint: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            },
          ],
        }),
        { "content-type": "application/x-amz-json-1.1" },
      ];
    });
}

nockedAws();

describe("ecr: static keys", () => {
  it("re-reads the key files on every refresh: a rotated key signs the next call", async () => {
    const dir = keyDir("AKIAOLDKEY0000000001", "old/secret/key/0123456789abcdefghijklmn");
    const seen: Array<Record<string, string>> = [];
    const { provider } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, { dir });
    answer(seen);
    await provider.mint(new AbortController().signal);
    writeFileSync(join(dir, "access-key-id"), "AKIANEWKEY0000000002\n");
    writeFileSync(join(dir, "secret-access-key"), "new/secret/key/0123456789abcdefghijklmn\n");
    answer(seen);
    await provider.mint(new AbortController().signal);
    expect(seen.map((h) => /Credential=(\w+)\//.exec(h["authorization"] ?? "")?.[1])).toEqual([
      "AKIAOLDKEY0000000001",
      "AKIANEWKEY0000000002",
    ]);
    expect(seen[0]!["x-amz-security-token"]).toBeUndefined();
  });

  it("sends the session token of temporary keys", async () => {
    const dir = keyDir("ASIATEMPKEY000000003", "temp/secret/key/0123456789abcdefghijklm");
    writeFileSync(join(dir, "session-token"), "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN\n");
    const seen: Array<Record<string, string>> = [];
    answer(seen);
    const { provider } = ecrProvider(
      "region: eu-west-1\nauth: { accessKeyIdFrom: { file: access-key-id }, secretAccessKeyFrom: { file: secret-access-key }, sessionTokenFrom: { file: session-token } }",
      { dir },
    );
    await provider.mint(new AbortController().signal);
    expect(seen[0]!["x-amz-security-token"]).toBe("IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN");
  });

  it("watch() calls back when a key file changes; no watch without static keys", async () => {
    const dir = keyDir();
    const { provider } = ecrProvider(`region: eu-west-1\n${STATIC_AUTH}`, { dir });
    let changes = 0;
    const stop = provider.watch!(() => changes++);
    try {
      writeFileSync(join(dir, "secret-access-key"), "rotated/secret/key/0123456789abcdefghij\n");
      const deadline = Date.now() + 3_000;
      while (changes === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(changes).toBeGreaterThan(0);
    } finally {
      stop();
    }
    const { provider: chain } = ecrProvider("region: eu-west-1", { dir });
    expect(typeof chain.watch!(() => {})).toBe("function");
  });
});
