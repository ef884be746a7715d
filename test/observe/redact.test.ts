import { afterEach, describe, expect, it } from "vitest";
import {
  RedactionScope,
  redact,
  registerAuth,
  registerSecret,
  registeredValues,
  resetRedactor,
} from "../../src/base/redact.ts";

afterEach(() => resetRedactor());

const MASK = "**redacted**";

describe("redact", () => {
  it("masks a registered value, its JSON-escaped form and its base64 form", () => {
    const value = 'pa"ss\\word-0123';
    registerSecret(value);
    const escaped = JSON.stringify(value).slice(1, -1);
    const b64 = Buffer.from(value).toString("base64");
    expect(redact(`a ${value} b ${escaped} c ${b64} d`)).toBe(`a ${MASK} b ${MASK} c ${MASK} d`);
  });

  it("masks every occurrence, at the start and at the end of the text", () => {
    registerSecret("s3cr3t-token");
    expect(redact("s3cr3t-token,s3cr3t-token and s3cr3t-token")).toBe(`${MASK},${MASK} and ${MASK}`);
  });

  it("masks a value that contains another one whole", () => {
    registerSecret("abcd1234");
    registerSecret("abcd1234-longer-token");
    expect(redact("x abcd1234-longer-token y abcd1234 z")).toBe(`x ${MASK} y ${MASK} z`);
  });

  it("masks short values (under eight characters) as well as long ones", () => {
    registerSecret("k3y5x");
    expect(redact("k3y5x;xk3y5xx")).toBe(`${MASK};x${MASK}x`);
  });

  it("masks two overlapping values as one span, leaving no part of either", () => {
    registerSecret("AAAA-first-BBBB");
    registerSecret("BBBB-second-CCCC");
    expect(redact("<AAAA-first-BBBB-second-CCCC>")).toBe(`<${MASK}>`);
  });

  it("finds values that share their head and tail and differ only in the middle", () => {
    const a = `eyJwYXlsb2FkIjoi${"a".repeat(40)}fQ==`;
    const b = `eyJwYXlsb2FkIjoi${"b".repeat(40)}fQ==`;
    registerSecret(a);
    registerSecret(b);
    expect(redact(`${b} ${a} eyJwYXlsb2FkIjoi${"c".repeat(40)}fQ==`)).toBe(
      `${MASK} ${MASK} eyJwYXlsb2FkIjoi${"c".repeat(40)}fQ==`,
    );
  });

  it("masks the docker auth string of a username/password pair", () => {
    const auth = registerAuth("AWS", "ecr-password-value");
    expect(auth).toBe(Buffer.from("AWS:ecr-password-value").toString("base64"));
    expect(redact(`{"auth":"${auth}"}`)).toBe(`{"auth":"${MASK}"}`);
  });

  it("leaves text without registered values untouched, and ignores values too short to be secrets", () => {
    registerSecret("abc");
    registerSecret("a-long-secret");
    expect(redact("abc is not masked; a-long-secre is not either")).toBe(
      "abc is not masked; a-long-secre is not either",
    );
  });
});

describe("RedactionScope", () => {
  it("drops a scope's values when it is released, and keeps values registered outside any scope", () => {
    registerSecret("configured-pat-value");
    const scope = new RedactionScope();
    scope.run(() => registerSecret("minted-token-one"));
    expect(redact("minted-token-one configured-pat-value")).toBe(`${MASK} ${MASK}`);
    scope.release();
    expect(redact("minted-token-one configured-pat-value")).toBe(`minted-token-one ${MASK}`);
  });

  it("follows a mint through its awaits", async () => {
    const scope = new RedactionScope();
    await scope.run(async () => {
      await new Promise((r) => setTimeout(r, 1));
      registerSecret("registered-after-await");
    });
    expect(redact("registered-after-await")).toBe(MASK);
    scope.release();
    expect(redact("registered-after-await")).toBe("registered-after-await");
  });

  it("keeps a value held by two scopes until both let go", () => {
    const older = new RedactionScope();
    const newer = new RedactionScope();
    older.run(() => registerSecret("shared-client-secret"));
    newer.run(() => registerSecret("shared-client-secret"));
    older.release();
    expect(redact("shared-client-secret")).toBe(MASK);
    newer.release();
    expect(redact("shared-client-secret")).toBe("shared-client-secret");
  });

  it("never drops a configured value that a scope also registered", () => {
    registerSecret("configured-and-minted");
    const scope = new RedactionScope();
    scope.run(() => registerSecret("configured-and-minted"));
    scope.release();
    expect(redact("configured-and-minted")).toBe(MASK);
  });

  it("holds only the values of live scopes however many credentials were superseded", () => {
    let live: RedactionScope | null = null;
    for (let i = 0; i < 1000; i++) {
      const scope = new RedactionScope();
      scope.run(() => registerAuth("user", `rotated-password-${i}`));
      live?.release();
      live = scope;
    }
    // password, its base64 and the auth string (the JSON form equals the password here)
    expect(registeredValues()).toBe(3);
    expect(redact("rotated-password-998 rotated-password-999")).toBe(`rotated-password-998 ${MASK}`);
  });

  it("masks a value registered after release for good", () => {
    const scope = new RedactionScope();
    scope.release();
    scope.run(() => registerSecret("late-callback-value"));
    expect(redact("late-callback-value")).toBe(MASK);
  });
});
